using RaftActors.Core;
using RaftActors.Messages;

namespace RaftActors.Simulation;

/// <summary>
/// The protocol bugs of <see cref="SimulatedBug"/>, each a <see cref="RaftRules"/> that gets one
/// rule wrong and keeps the others correct. A simulated node hands its protocol the one its
/// options name; production code never sees them.
/// </summary>
internal static class FaultyRules
{
    /// <summary>The rules a node runs under <paramref name="bug"/>: the correct ones for none, or for a bug of the host.</summary>
    public static RaftRules For(SimulatedBug bug) => bug switch
    {
        SimulatedBug.None or SimulatedBug.ServeReadsLocally or SimulatedBug.SnapshotAnswerAfterProtocol or SimulatedBug.WriteDuplicateSnapshotChunks => RaftRules.Correct,
        SimulatedBug.CommitOldTermByCounting => new CommitOldTermByCounting(),
        SimulatedBug.SendVoteBeforeDurable => new SendVoteBeforeDurable(),
        SimulatedBug.StayLeaderOnHigherTerm => new StayLeaderOnHigherTerm(),
        SimulatedBug.TruncateOnStaleAppend => new TruncateOnStaleAppend(),
        SimulatedBug.ApplyConfigurationOnCommit => new ApplyConfigurationOnCommit(),
        SimulatedBug.AllowConcurrentMembershipChanges => new AllowConcurrentMembershipChanges(),
        SimulatedBug.ServeFollowerReadsBeforeCommit => new ServeFollowerReadsBeforeCommit(),
        SimulatedBug.LeaseOutlivesElectionTimeout => new LeaseOutlivesElectionTimeout(),
        _ => throw new ArgumentOutOfRangeException(nameof(bug), bug, null),
    };

    /// <summary>The rule by which every node's snapshot receiver decides a leader's chunk: production's, or the faulty one of <see cref="SimulatedBug.WriteDuplicateSnapshotChunks"/>.</summary>
    public static Func<InstallSnapshot?, long, InstallSnapshot, ChunkDecision> ChunkDecisionFor(SimulatedBug bug) =>
        bug == SimulatedBug.WriteDuplicateSnapshotChunks ? WriteDuplicatesAgain : SnapshotTransferRules.Decide;

    private static ChunkDecision WriteDuplicatesAgain(InstallSnapshot? receiving, long accepted, InstallSnapshot chunk) =>
        receiving is not null && SnapshotTransferRules.SameTransfer(receiving, chunk) && chunk.Offset < accepted
            ? ChunkDecision.Append
            : SnapshotTransferRules.Decide(receiving, accepted, chunk);

    /// <summary>Figure 8's bug: whatever a majority stores is committed, of any term.</summary>
    private sealed class CommitOldTermByCounting : RaftRules
    {
        public override long LeaderCommitIndex(RaftLog log, long currentTerm, long currentCommit, IEnumerable<long> matchIndexes, int clusterSize) =>
            Math.Max(currentCommit, ReplicationRules.StoredByMajority(matchIndexes, clusterSize));
    }

    /// <summary>The answer leaves before the vote is durable: a voter that crashes then forgets it, and can vote twice in a term.</summary>
    private sealed class SendVoteBeforeDurable : RaftRules
    {
        public override void PersistThenRespond(Action persist, Action respond)
        {
            respond();
            persist();
        }
    }

    /// <summary>A leader that sees a higher term adopts it but goes on leading.</summary>
    private sealed class StayLeaderOnHigherTerm : RaftRules
    {
        public override void AdoptHigherTerm(RaftProtocol server, long term)
        {
            if (server.Role == RaftRole.Leader)
                server.AdoptTerm(term);
            else
                base.AdoptHigherTerm(server, term);
        }
    }

    /// <summary>A follower cuts its log after the entries of an AppendEntries even without a conflict, so an old, delayed one undoes newer entries.</summary>
    private sealed class TruncateOnStaleAppend : RaftRules
    {
        public override AppendDecision DecideAppend(RaftLog log, AppendEntries request)
        {
            var decision = base.DecideAppend(log, request);
            return decision.Success && decision.TruncateFrom == AppendDecision.NoTruncation && log.LastIndex > decision.MatchIndex
                ? decision with { TruncateFrom = decision.MatchIndex + 1 }
                : decision;
        }
    }

    /// <summary>A server uses the latest committed configuration in its log, not the latest appended.</summary>
    private sealed class ApplyConfigurationOnCommit : RaftRules
    {
        public override ClusterConfiguration ConfigurationInUse(ConfigurationHistory configurations, long commitIndex) =>
            configurations.At(commitIndex);
    }

    /// <summary>A leader starts a membership change while another is not committed yet.</summary>
    private sealed class AllowConcurrentMembershipChanges : RaftRules
    {
        public override bool MayStartMembershipChange(bool anotherUnderWay) => true;
    }

    /// <summary>A follower serves a read as soon as its leader answers the read index, before it has committed that far.</summary>
    private sealed class ServeFollowerReadsBeforeCommit : RaftRules
    {
        public override bool FollowerMayServe(long readIndex, long commitIndex) => true;
    }

    /// <summary>A leader's lease lasts three minimum election timeouts: voters stop refusing votes long before it ends.</summary>
    private sealed class LeaseOutlivesElectionTimeout : RaftRules
    {
        public override TimeSpan LeaseDuration(TimeSpan minimumElectionTimeout) => minimumElectionTimeout * 3;
    }
}
