namespace RaftActors.Core;

/// <summary>Majority arithmetic over the whole configured cluster.</summary>
internal static class Quorum
{
    /// <summary>The smallest number of nodes that is a majority of a cluster of <paramref name="clusterSize"/>.</summary>
    public static int Majority(int clusterSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(clusterSize, 1);
        return clusterSize / 2 + 1;
    }
}
