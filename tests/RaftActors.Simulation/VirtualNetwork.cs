namespace RaftActors.Simulation;

/// <summary>
/// The simulated network's state and dice: which nodes can reach which (each node is in a group;
/// nodes talk only within their group, so any partition into groups is one assignment), and the
/// weather — loss, duplication and delays, whose long tail reorders messages. A storm (a fault)
/// makes all of it much worse for a while. Clients sit outside the partitions, but their messages
/// are lost and delayed like the nodes'.
/// </summary>
internal sealed class VirtualNetwork
{
    private readonly Random _random;
    private readonly int[] _groups;
    private readonly double _baseLoss;

    public VirtualNetwork(Random random, int clusterSize)
    {
        _random = random;
        _groups = new int[clusterSize];
        _baseLoss = random.NextDouble() * 0.05;
    }

    public bool Stormy { get; set; }

    public bool Partitioned { get; private set; }

    public bool Connected(int a, int b) => _groups[a] == _groups[b];

    public int GroupOf(int node) => _groups[node];

    public void Partition(int[] groups)
    {
        groups.CopyTo(_groups, 0);
        Partitioned = true;
    }

    public void Heal()
    {
        Array.Clear(_groups);
        Partitioned = false;
    }

    public bool Lost() => _random.NextDouble() < (Stormy ? 0.35 : _baseLoss);

    public bool Duplicated() => _random.NextDouble() < (Stormy ? 0.10 : 0.02);

    /// <summary>Mostly a fraction of a millisecond; sometimes tens (in a storm, hundreds), which reorders.</summary>
    public long Delay()
    {
        var dice = _random.NextDouble();
        if (dice < (Stormy ? 0.4 : 0.08))
            return Micros.Millis(2 + _random.NextDouble() * (Stormy ? 250 : 40));
        return Micros.Millis(0.05 + _random.NextDouble() * 1.5);
    }

    public string Describe() => Partitioned ? $"groups [{string.Join(" ", _groups)}]" : "connected";
}
