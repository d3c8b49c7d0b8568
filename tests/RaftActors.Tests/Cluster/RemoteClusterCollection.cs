namespace RaftActors.Tests.Cluster;

/// <summary>
/// The real-time cluster tests run alone, after the parallel tests: their timing bounds
/// (a leader within 2 s) assume the two cores are not shared with other tests.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RemoteClusterCollection
{
    public const string Name = "Remote cluster (real time)";
}
