namespace RaftActors.Core;

/// <summary>
/// Known Raft bugs that tests switch on, one protocol instance at a time, to prove the
/// deterministic simulator catches them. Production code never sets it: every switch is off by
/// default, and it is internal (visible to the test assemblies only).
/// </summary>
/// <param name="CommitOldTermByCounting">A leader commits an entry of an earlier term once a majority stores it (Figure 8's bug).</param>
/// <param name="SendVoteBeforeDurable">A granted vote leaves before the vote is durable; a crash can make the voter vote twice in a term.</param>
/// <param name="StayLeaderOnHigherTerm">A leader that sees a higher term adopts it but does not step down.</param>
/// <param name="TruncateOnStaleAppend">A follower cuts its log after the entries of an old AppendEntries even without a conflict.</param>
/// <param name="AllowConcurrentMembershipChanges">A leader starts a membership change while another is not committed yet.</param>
/// <param name="ApplyConfigurationOnCommit">A server uses the latest committed configuration in its log instead of the latest appended (thesis §4.1).</param>
internal sealed record InjectedBugs(
    bool CommitOldTermByCounting = false,
    bool SendVoteBeforeDurable = false,
    bool StayLeaderOnHigherTerm = false,
    bool TruncateOnStaleAppend = false,
    bool AllowConcurrentMembershipChanges = false,
    bool ApplyConfigurationOnCommit = false)
{
    public static readonly InjectedBugs None = new();
}
