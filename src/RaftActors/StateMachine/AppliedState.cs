using RaftActors.Core;
using RaftActors.Messages;

namespace RaftActors.StateMachine;

/// <summary>
/// What a node has applied, besides the state machine's own state: the last entry, the
/// configuration in force there, the client sessions (part of the replicated state: every node
/// skips the same duplicates), and how much was applied since the last snapshot. Its rules are the
/// applier's: each committed entry once, in index order, except what a restored snapshot holds
/// already; a snapshot once enough was applied, one at a time, of the state as of the last entry.
/// It does no I/O and knows no state machine: the host executes the commands the sessions let
/// through, and writes and restores the snapshots. StateMachineApplier hosts it with the user's
/// state machine, the simulator with its key-value store.
/// </summary>
internal sealed class AppliedState
{
    private readonly Func<long, long, bool> _snapshotDue;
    private long _restoredThrough;
    private long _entriesSinceSnapshot;
    private long _bytesSinceSnapshot;
    private bool _snapshotUnderWay;

    /// <param name="configuration">The configuration in force before the first entry: the cluster's starting one.</param>
    /// <param name="snapshotDue">Whether a snapshot is due after so many entries and bytes of entries applied since the last.</param>
    public AppliedState(ClusterConfiguration configuration, Func<long, long, bool> snapshotDue)
    {
        Configuration = configuration;
        _snapshotDue = snapshotDue;
    }

    public ClientSessions Sessions { get; private set; } = new();

    public LogPosition LastApplied { get; private set; }

    /// <summary>The configuration in force at <see cref="LastApplied"/>: what a snapshot taken there records.</summary>
    public ClusterConfiguration Configuration { get; private set; }

    /// <summary>Whether the snapshot restored last holds the entry at <paramref name="index"/> (a restore overtook the entries after a leader's snapshot).</summary>
    public bool Holds(long index) => index <= _restoredThrough;

    /// <summary>
    /// Applies a committed entry: its configuration, then its command through the sessions, which
    /// call <paramref name="execute"/> unless they answer for it (<see cref="ClientSessions.Apply"/>).
    /// Returns false, and applies nothing, for an entry the restored snapshot <see cref="Holds"/>;
    /// <paramref name="reply"/> is the command's answer, null for an entry without a command.
    /// </summary>
    /// <exception cref="InvalidOperationException">The entry is not the one after <see cref="LastApplied"/>.</exception>
    public bool Apply(LogEntry entry, Func<long, EntryCommand, IClientReply> execute, out IClientReply? reply)
    {
        reply = null;
        if (Holds(entry.Index))
            return false;
        if (entry.Index != LastApplied.Index + 1)
            throw new InvalidOperationException($"entry {entry.Index} applied after {LastApplied.Index}: the applier must see every index once, in order");
        LastApplied = entry.Position;
        _entriesSinceSnapshot++;
        _bytesSinceSnapshot += entry.ApproximateSize;
        if (entry.Configuration is { } configuration)
            Configuration = configuration;
        reply = Sessions.Apply(entry, execute);
        return true;
    }

    /// <summary>Whether to take a snapshot now: enough was applied since the last, and none is under way (then one is, until <see cref="SnapshotEnded"/>).</summary>
    public bool TakeSnapshotNow()
    {
        if (_snapshotUnderWay || !_snapshotDue(_entriesSinceSnapshot, _bytesSinceSnapshot))
            return false;
        _snapshotUnderWay = true;
        return true;
    }

    /// <summary>
    /// A snapshot of the state as of <see cref="LastApplied"/> is written now, and the count toward
    /// the next starts over; false when nothing was applied since the last snapshot, taken or restored.
    /// </summary>
    public bool SnapshotStarting()
    {
        if (_entriesSinceSnapshot == 0)
            return false;
        ResetSnapshotCounters();
        return true;
    }

    /// <summary>The snapshot under way is written (or given up): the next may start once it is due.</summary>
    public void SnapshotEnded() => _snapshotUnderWay = false;

    /// <summary>The state machine took the state of the snapshot through <paramref name="snapshot"/>, which holds these sessions and configuration.</summary>
    public void Restored(LogPosition snapshot, ClusterConfiguration configuration, ClientSessions sessions)
    {
        Sessions = sessions;
        Configuration = configuration;
        LastApplied = snapshot;
        _restoredThrough = snapshot.Index;
        ResetSnapshotCounters();
    }

    private void ResetSnapshotCounters()
    {
        _entriesSinceSnapshot = 0;
        _bytesSinceSnapshot = 0;
    }
}
