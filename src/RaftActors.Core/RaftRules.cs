using RaftActors.Messages;

namespace RaftActors.Core;

/// <summary>
/// The decisions <see cref="RaftProtocol"/> leaves to a rules object: the places where a known
/// Raft bug goes, so that a test can hand the protocol a faulty rule and prove the deterministic
/// simulator catches it. Production always runs <see cref="Correct"/>, the rules as the paper and
/// the thesis state them; the faulty variants live in the simulation assembly, never here.
/// </summary>
internal class RaftRules
{
    /// <summary>The rules as Raft states them: what every node outside a test runs.</summary>
    public static readonly RaftRules Correct = new();

    protected RaftRules()
    {
    }

    /// <summary>Thesis §4.1: a server uses the latest configuration in its log, committed or not.</summary>
    public virtual ClusterConfiguration ConfigurationInUse(ConfigurationHistory configurations, long commitIndex) =>
        configurations.Latest;

    /// <summary>
    /// §5.1: a server that sees a higher term adopts it and reverts to follower, whatever its role.
    /// <paramref name="server"/> is the protocol seeing <paramref name="term"/>.
    /// </summary>
    public virtual void AdoptHigherTerm(RaftProtocol server, long term) => server.BecomeFollower(term, leaderId: null);

    /// <summary>
    /// Figure 2: a server updates its persistent state on stable storage before it responds. The
    /// protocol emits the write before the response, and its host holds a message back until what
    /// was decided before it is durable: the order of the two is the rule.
    /// </summary>
    public virtual void PersistThenRespond(Action persist, Action respond)
    {
        persist();
        respond();
    }

    /// <summary>A follower's rules 2-4 for an AppendEntries of the current term (§5.3, <see cref="ReplicationRules.DecideAppend"/>).</summary>
    public virtual AppendDecision DecideAppend(RaftLog log, AppendEntries request) => ReplicationRules.DecideAppend(log, request);

    /// <summary>The leader's commit rule: entries of earlier terms commit only beneath one of the current term (§5.4.2, <see cref="ReplicationRules.LeaderCommitIndex"/>).</summary>
    public virtual long LeaderCommitIndex(RaftLog log, long currentTerm, long currentCommit, IEnumerable<long> matchIndexes, int clusterSize) =>
        ReplicationRules.LeaderCommitIndex(log, currentTerm, currentCommit, matchIndexes, clusterSize);

    /// <summary>
    /// Thesis §6.4: a follower serves a read at the read index its leader confirmed only once it
    /// has committed (and so applied) through that index.
    /// </summary>
    public virtual bool FollowerMayServe(long readIndex, long commitIndex) => readIndex <= commitIndex;

    /// <summary>
    /// Thesis §6.4.1: how long after sending a message a majority answered a leader may serve reads
    /// without a heartbeat round. A follower that handled the message refuses votes for the minimum
    /// election timeout after (CheckQuorum); nine tenths of it leave room for its clock to run up to
    /// 10% fast beside the leader's.
    /// </summary>
    public virtual TimeSpan LeaseDuration(TimeSpan minimumElectionTimeout) => minimumElectionTimeout * 0.9;

    /// <summary>Thesis §4.1: membership changes one at a time — a new one starts only once the last is committed.</summary>
    public virtual bool MayStartMembershipChange(bool anotherUnderWay) => !anotherUnderWay;
}
