namespace RaftActors.Tests.Replication;

/// <summary>
/// The replication scenarios run in real time with 150-300 ms election timeouts: they run one
/// at a time, after the parallel tests, so their timing does not compete with other tests for
/// the two cores.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ReplicationCollection
{
    public const string Name = "Replication (real time)";
}
