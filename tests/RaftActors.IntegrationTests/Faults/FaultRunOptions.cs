using System.Globalization;

namespace RaftActors.IntegrationTests.Faults;

/// <summary>What a fault run does: how long the nemesis works, on how many servers, with how many clients on how many keys.</summary>
public sealed record FaultRunOptions
{
    /// <summary>Seeds the nemesis' schedule and every client's choices (the servers' timing is real, so a replay takes the same steps, not the same path).</summary>
    public int Seed { get; init; }

    /// <summary>How long faults are injected; the clients run as long.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(60);

    public int Nodes { get; init; } = 5;

    public int Clients { get; init; } = 8;

    /// <summary>The registers the clients contend on (each client also writes fresh keys of its own).</summary>
    public int Keys { get; init; } = 3;

    /// <summary>
    /// Clients read each node's local copy (<c>?stale=true</c>), which is not linearizable: a
    /// run that must fail, to see that the checks catch what they should.
    /// </summary>
    public bool StaleReads { get; init; }

    /// <summary>How long the linearizability checker may take.</summary>
    public TimeSpan CheckBudget { get; init; } = TimeSpan.FromSeconds(60);

    public string ReplayCommand => string.Create(CultureInfo.InvariantCulture,
        $"dotnet run --project tests/tools/RaftActors.FaultRunner -- --seed {Seed} --duration {Duration.TotalSeconds:0.#} --nodes {Nodes} --clients {Clients} --keys {Keys}{(StaleReads ? " --stale-reads" : "")}");

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"seed {Seed}, {Duration.TotalSeconds:0.#} s of faults on {Nodes} nodes, {Clients} clients on {Keys} keys{(StaleReads ? ", reading stale local copies" : "")}");
}
