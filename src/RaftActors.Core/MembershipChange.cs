namespace RaftActors.Core;

/// <summary>What a membership request asks of the leader (thesis §4.1: one server at a time).</summary>
internal enum MembershipChangeKind
{
    /// <summary>Add a learner: it receives the log and snapshots, and neither votes nor counts for majorities.</summary>
    AddLearner,

    /// <summary>
    /// Add a voter: as a learner first, promoted once it has caught up with the leader's log
    /// (thesis §4.2.1), so that adding a slow or empty server never stalls commits. An existing
    /// learner is promoted the same way.
    /// </summary>
    AddVoter,

    /// <summary>Remove a member, voter or learner; a leader that removes itself steps down once the change commits.</summary>
    Remove,
}

/// <summary>A membership request: add <see cref="Id"/> (found at <see cref="Address"/>) or remove it.</summary>
internal sealed record MembershipChange(MembershipChangeKind Kind, string Id, string? Address = null)
{
    public static MembershipChange AddLearner(string id, string? address = null) => new(MembershipChangeKind.AddLearner, id, address);

    public static MembershipChange AddVoter(string id, string? address = null) => new(MembershipChangeKind.AddVoter, id, address);

    public static MembershipChange Remove(string id) => new(MembershipChangeKind.Remove, id);
}

/// <summary>Why the leader refused a membership request or a leadership transfer; the request certainly did not take effect.</summary>
public enum MembershipRefusalReason
{
    /// <summary>This node is not the leader.</summary>
    NotLeader,

    /// <summary>The leader has not yet committed an entry of its term (a new leader, for a round trip): try again.</summary>
    LeaderNotReady,

    /// <summary>Another membership change is not finished yet: one change at a time.</summary>
    ChangeInProgress,

    /// <summary>A leadership transfer is under way.</summary>
    TransferInProgress,

    /// <summary>The server to add is a member already (in that role).</summary>
    AlreadyMember,

    /// <summary>The server named is not a member.</summary>
    NotAMember,

    /// <summary>The change would leave the cluster without a voter.</summary>
    LastVoter,

    /// <summary>The learner did not catch up with the leader's log in time: it stays a learner.</summary>
    NotCaughtUp,

    /// <summary>The transfer's target is not a voter, or there is no other voter to transfer to.</summary>
    NotAVoter,

    /// <summary>The transfer did not finish within an election timeout: the old leader serves again.</summary>
    TransferTimedOut,

    /// <summary>The transfer was called off by a transfer to the leader itself: it leads on.</summary>
    TransferCancelled,
}

/// <summary>A refusal with its reason and a message for people.</summary>
internal sealed record MembershipRefusal(MembershipRefusalReason Reason, string Message);
