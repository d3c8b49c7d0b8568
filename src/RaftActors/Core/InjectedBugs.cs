namespace RaftActors.Core;

/// <summary>
/// Known Raft bugs that tests switch on, one protocol instance at a time, to prove the
/// deterministic simulator catches them. Production code never sets it: every switch is off by
/// default, and it is internal (visible to the test assemblies only).
/// </summary>
internal sealed record InjectedBugs(
    bool CommitOldTermByCounting = false,
    bool SendVoteBeforeDurable = false,
    bool StayLeaderOnHigherTerm = false,
    bool TruncateOnStaleAppend = false)
{
    public static readonly InjectedBugs None = new();
}
