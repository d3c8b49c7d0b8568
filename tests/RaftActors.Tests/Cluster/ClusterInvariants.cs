using RaftActors.Core;

namespace RaftActors.Tests.Cluster;

/// <summary>Raft's safety properties checked over a whole recorded history, every event of it.</summary>
public static class ClusterInvariants
{
    /// <summary>
    /// Election Safety (§5.2): at most one leader per term. A node claims a term's leadership
    /// by becoming Leader in it, and a node names a term's leader when it follows it; every
    /// event is looked at, and all the names given to one term must be the same node.
    /// </summary>
    public static IReadOnlyList<string> ElectionSafetyViolations(IEnumerable<ObservedChange> history)
    {
        var leadersByTerm = new Dictionary<long, List<ObservedChange>>();
        foreach (var observed in history)
        {
            var change = observed.Change;
            var named = change.Role == RaftRole.Leader ? change.NodeId : change.LeaderId;
            if (named is null)
                continue;
            if (!leadersByTerm.TryGetValue(change.Term, out var claims))
                leadersByTerm[change.Term] = claims = new List<ObservedChange>();
            claims.Add(observed);
        }

        return leadersByTerm
            .Where(kv => kv.Value.Select(Named).Distinct(StringComparer.Ordinal).Count() > 1)
            .OrderBy(kv => kv.Key)
            .Select(kv => $"term {kv.Key} has leaders {string.Join(", ", kv.Value.Select(Named).Distinct(StringComparer.Ordinal))}: " +
                          string.Join(" | ", kv.Value))
            .ToList();

        static string Named(ObservedChange o) => o.Change.Role == RaftRole.Leader ? o.Change.NodeId : o.Change.LeaderId!;
    }

    /// <summary>A node's term never goes down (§5.1: terms are a logical clock); a Leader event is Leader of its own term.</summary>
    public static IReadOnlyList<string> TermMonotonicityViolations(IEnumerable<ObservedChange> history)
    {
        var violations = new List<string>();
        foreach (var node in history.GroupBy(o => o.Change.NodeId, StringComparer.Ordinal))
        {
            var last = long.MinValue;
            foreach (var observed in node)
            {
                var change = observed.Change;
                if (change.Term < last || change.Term < change.Previous.Term)
                    violations.Add($"{change.NodeId} went back from term {Math.Max(last, change.Previous.Term)}: {observed}");
                if (change.Role == RaftRole.Leader && change.LeaderId != change.NodeId)
                    violations.Add($"{change.NodeId} is Leader but names {change.LeaderId ?? "no one"} as leader: {observed}");
                last = Math.Max(last, change.Term);
            }
        }

        return violations;
    }
}
