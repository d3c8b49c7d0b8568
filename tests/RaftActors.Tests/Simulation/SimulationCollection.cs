namespace RaftActors.Tests.Simulation;

/// <summary>
/// The simulation tests keep both cores busy for minutes: they run alone, after the parallel
/// tests, so the real-time cluster tests do not compete with them for the CPU.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SimulationCollection
{
    public const string Name = "Deterministic simulation";
}
