using RaftActors.Messages;

namespace RaftActors.Core.Hosting;

/// <summary>
/// What a <see cref="RaftProtocolDriver{TClient,TRead}"/> asks of the place it runs in: time, the
/// network, the disk, the state machine and the clients, and the snapshot transfers. RaftNode
/// implements it with Akka (named timers, actor messages, storage writes off its thread, an applier
/// actor); the simulator with virtual time, a simulated network and disk, and a key-value store.
/// The driver calls these from the host's own thread, inside a call the host made to the driver.
/// </summary>
/// <typeparam name="TClient">Who waits for a command's outcome.</typeparam>
/// <typeparam name="TRead">A read waiting to be served: the query and who asked it.</typeparam>
internal interface IRaftProtocolHost<TClient, in TRead>
{
    /// <summary>Sends to a peer now: what the message depends on is durable.</summary>
    void Deliver(string to, IRaftProtocolMessage message);

    /// <summary>(Re)starts the election timer; its firing is <see cref="RaftProtocol.ElectionTimeoutElapsed"/>. A reset timer's earlier firing must not arrive.</summary>
    void ResetElectionTimer(TimeSpan timeout);

    void StopElectionTimer();

    /// <summary>Starts the leader's repeating heartbeat timer; each firing is <see cref="RaftProtocol.HeartbeatTimeoutElapsed"/>.</summary>
    void StartHeartbeatTimer(TimeSpan interval);

    void StopHeartbeatTimer();

    /// <summary>
    /// Calls <see cref="RaftProtocolDriver{TClient,TRead}.Flush"/> once the requests arriving now
    /// are taken in (behind them in the host's queue), so that they replicate together.
    /// </summary>
    void ScheduleFlush();

    /// <summary>
    /// Starts making <paramref name="write"/> durable, off the host's thread or in its own time,
    /// and calls <see cref="RaftProtocolDriver{TClient,TRead}.WriteDurable"/> when it is. The
    /// driver starts no other write until then.
    /// </summary>
    void StartWrite(DurableWrite write);

    /// <summary>
    /// <paramref name="write"/> is durable and the messages that waited for it have left; the
    /// protocol hears of it next. RaftNode lets go here of the snapshots the write saved.
    /// </summary>
    void WriteLanded(DurableWrite write) { }

    /// <summary>A log change the protocol decided, as it goes into the next write (the simulator's invariant checker follows each log through these).</summary>
    void LogChanging(LogChange change) { }

    /// <summary>
    /// Applies committed entries in order, exactly once, and answers the clients whose commands
    /// they are (<paramref name="clients"/>, by index) with their results. Reads served later see them.
    /// </summary>
    void Apply(IReadOnlyList<LogEntry> entries, IReadOnlyDictionary<long, TClient> clients);

    /// <summary>Runs a confirmed read once the state machine has applied <paramref name="readIndex"/>, and answers it.</summary>
    void ServeRead(TRead read, long readIndex);

    /// <summary>Answers a read that this node will not serve "not the leader", pointing to <paramref name="leaderId"/> when known.</summary>
    void FailRead(TRead read, string? leaderId);

    /// <summary>Tells a client that its command may or may not take effect, for the <paramref name="reason"/> given.</summary>
    void CommandOutcomeUnknown(TClient client, string reason);

    /// <summary>The same for a membership request or a leadership transfer (RaftNode counts commands' outcomes apart from these).</summary>
    void MembershipOutcomeUnknown(TClient client, string reason) => CommandOutcomeUnknown(client, reason);

    /// <summary>The configuration in use changed, or was committed: reach the new members, publish the change.</summary>
    void ConfigurationChanged(ClusterConfiguration configuration, long index, bool committed) { }

    /// <summary>A membership request is done: <paramref name="configuration"/>, at <paramref name="index"/>, is committed.</summary>
    void MembershipChanged(TClient client, ClusterConfiguration configuration, long index);

    /// <summary>A membership request or a leadership transfer was refused: it did not take effect.</summary>
    void MembershipRefused(TClient client, MembershipRefusal refusal);

    /// <summary>A leadership transfer is done: <paramref name="leaderId"/> leads <paramref name="term"/>.</summary>
    void LeadershipTransferred(TClient client, string leaderId, long term);

    /// <summary>
    /// The input just given changed the node's role, term or leader; its effects come next. A
    /// snapshot transfer belongs to one leader in one term: RaftNode ends its transfers here.
    /// </summary>
    void LeadershipChanged() { }

    /// <summary>The <see cref="Core.SendSnapshot"/> effect: stream the latest durable snapshot to a follower.</summary>
    void SendSnapshot(string to);

    /// <summary>The <see cref="Core.AcceptSnapshotChunk"/> effect: write a leader's snapshot chunk durably and acknowledge it.</summary>
    void AcceptSnapshotChunk(InstallSnapshot chunk);

    /// <summary>The <see cref="Core.RestoreSnapshot"/> effect: the state machine takes the snapshot's state once the write saving it is durable.</summary>
    void RestoreSnapshot(LogPosition snapshot);
}
