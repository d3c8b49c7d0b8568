using Akka.Actor;
using Akka.Event;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Diagnostics;
using RaftActors.Messages;
using RaftActors.Serialization;
using RaftActors.Storage;

namespace RaftActors.StateMachine;

/// <summary>
/// Applies committed entries to the state machine, in index order, each once, off the Raft
/// actor's thread, and answers the clients waiting for them. It also runs confirmed reads: a
/// read arrives after the entries it must see, so mailbox order is all the waiting it needs.
/// Which entries to apply, the client sessions and when to take a snapshot are the rules of
/// <see cref="AppliedState"/>, which the simulator hosts too; this actor gives them the user's
/// state machine, the storage and Akka's serialization.
/// </summary>
/// <remarks>
/// Snapshots (§7) are written and restored here too, with the state machine's state and the
/// sessions as of the last entry applied: nothing is applied while one is written or restored
/// (the mailbox waits), so the state is a consistent point in time, and the Raft actor keeps
/// serving meanwhile. Once entries (or bytes of entries) applied since the last snapshot pass
/// the threshold, the applier writes a snapshot into the storage, stages it, and hands it to the
/// node, which saves it and compacts the log.
/// </remarks>
internal sealed class StateMachineApplier : ReceiveActor
{
    private readonly IRaftStateMachine _stateMachine;
    private readonly IRaftStorage _storage;
    private readonly SnapshotSettings _snapshots;
    private readonly Akka.Serialization.Serialization _serialization;
    private readonly RaftProtocolSerializer _protocolSerializer;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ClusterConfiguration _bootstrap;
    private readonly RaftNodeMetrics _metrics;
    private readonly AppliedState _applied;
    private readonly Func<long, EntryCommand, IClientReply> _applyCommand; // one delegate, not one per entry

    public StateMachineApplier(IRaftStateMachine stateMachine, IRaftStorage storage, SnapshotSettings snapshots, ClusterConfiguration configuration, RaftNodeMetrics metrics)
    {
        _metrics = metrics;
        _bootstrap = configuration;
        _stateMachine = stateMachine;
        _storage = storage;
        _snapshots = stateMachine is ISnapshotStateMachine ? snapshots : SnapshotSettings.Never;
        _applied = new AppliedState(configuration, _snapshots.IsDue);
        _applyCommand = ApplyCommand;
        _serialization = Context.System.Serialization;
        _protocolSerializer = RaftExtension.Get(Context.System).ProtocolSerializer;
        Receive<ApplyCommitted>(Apply);
        ReceiveAsync<RunExport>(ExportAsync); // before RunQuery, which it is a kind of
        Receive<RunQuery>(Query);
        ReceiveAsync<TakeSnapshot>(_ => TakeSnapshotAsync());
        ReceiveAsync<RestoreLatestSnapshot>(_ => RestoreAsync());
    }

    /// <param name="stateMachine">The user's state machine, which this actor alone calls.</param>
    /// <param name="storage">Where snapshots are written and read.</param>
    /// <param name="snapshots">When to take a snapshot.</param>
    /// <param name="configuration">The configuration in force where the applier starts: the latest snapshot's, or the cluster's starting one.</param>
    /// <param name="metrics">The node's metrics: proposals' outcomes, snapshots taken and the client sessions are known here.</param>
    public static Props Props(IRaftStateMachine stateMachine, IRaftStorage storage, SnapshotSettings snapshots, ClusterConfiguration configuration, RaftNodeMetrics metrics) =>
        Akka.Actor.Props.Create(() => new StateMachineApplier(stateMachine, storage, snapshots, configuration, metrics));

    private void Apply(ApplyCommitted batch)
    {
        foreach (var entry in batch.Entries)
        {
            // Not applied: a snapshot restored in the meantime holds it. Null: a leader's no-op, or a configuration.
            if (!_applied.Apply(entry, _applyCommand, out var reply) || reply is null)
                continue;
            if (batch.Clients.TryGetValue(entry.Index, out var client))
            {
                _metrics.Proposal(ProposalOutcomes.OfCommitted(reply));
                client.Tell(reply);
            }
        }

        _metrics.ClientSessions = _applied.Sessions.Count;
        Context.Parent.Tell(new AppliedThrough(_applied.LastApplied.Index));
        if (_applied.TakeSnapshotNow())
            Self.Tell(TakeSnapshot.Instance);
    }

    private IClientReply ApplyCommand(long index, EntryCommand command)
    {
        try
        {
            var payload = _serialization.Deserialize(command.Data, command.SerializerId, command.Manifest);
            var result = _stateMachine is ITimedStateMachine timed
                ? timed.Apply(index, payload, _applied.Sessions.Now is { } now ? DateTimeOffset.FromUnixTimeMilliseconds(now) : null)
                : _stateMachine.Apply(index, payload);
            return new CommandApplied(index, result);
        }
        catch (Exception e)
        {
            // Deterministic on every node: the same bytes fail the same way everywhere.
            _log.Warning("Entry {0} ({1}) failed in the state machine: {2}", index, command, e.Message);
            return new CommandFailed(index, e.Message);
        }
    }

    private void Query(RunQuery query)
    {
        try
        {
            query.Client.Tell(new QueryResult(_stateMachine.Query(query.Query)));
        }
        catch (Exception e)
        {
            query.Client.Tell(new RequestRejected($"the query failed: {e.Message}"));
        }
    }

    /// <summary>Writes the state as of the last applied entry into a new snapshot, stages it, and hands it to the node.</summary>
    private async Task TakeSnapshotAsync()
    {
        try
        {
            if (!_applied.SnapshotStarting())
                return; // nothing new since the last snapshot, taken or restored
            await WriteSnapshotAsync();
        }
        finally
        {
            _applied.SnapshotEnded();
        }
    }

    private async Task WriteSnapshotAsync()
    {
        var parent = Context.Parent;
        var position = _applied.LastApplied;
        var startedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        var sink = _storage.CreateSnapshot(position, _applied.Configuration);
        try
        {
            await WriteStateAsync(sink, (ISnapshotStateMachine)_stateMachine);
        }
        catch (Exception e)
        {
            sink.Dispose();
            _log.Error(e, "Writing a snapshot through entry {0} failed; the log stays as it is until the next attempt", position.Index);
            return;
        }

        _log.Debug("Snapshot through entry {0} (term {1}) written: {2} bytes", position.Index, position.Term, sink.Length);
        _metrics.SnapshotTaken(startedAt, sink.Length);
        parent.Tell(new SnapshotWritten(sink));
    }

    /// <summary>Writes the sessions and the state machine's state as they are now into the sink, and completes it (durable).</summary>
    private async Task WriteStateAsync(SnapshotSink sink, ISnapshotStateMachine stateMachine)
    {
        await SnapshotContent.WriteAsync(sink.AsStream(), _applied.Sessions, _protocolSerializer, stateMachine, CancellationToken.None);
        await sink.CompleteAsync();
    }

    /// <summary>
    /// A backup (<see cref="ExportSnapshot"/>): the state as of the last applied entry, written to
    /// the file asked for. The leader's read index is at or before that entry, since the request
    /// came after the entries through it; nothing is applied while it is written.
    /// </summary>
    private async Task ExportAsync(RunExport export)
    {
        var path = export.Export.Path;
        if (_stateMachine is not ISnapshotStateMachine stateMachine)
        {
            export.Client.Tell(new RequestRejected(
                $"the state machine ({_stateMachine.GetType().FullName}) does not implement {nameof(ISnapshotStateMachine)}, so it cannot be written to a snapshot"));
            return;
        }

        var position = _applied.LastApplied;
        try
        {
            var size = await SnapshotArchive.WriteAsync(path, position, _applied.Configuration, sink => WriteStateAsync(sink, stateMachine));
            _log.Info("Snapshot through entry {0} (term {1}) exported to {2}: {3} bytes", position.Index, position.Term, path, size);
            export.Client.Tell(new SnapshotExported(path, position, size));
        }
        catch (Exception e)
        {
            _log.Error(e, "Exporting the snapshot through entry {0} to {1} failed", position.Index, path);
            export.Client.Tell(new RequestRejected($"writing the snapshot to {path} failed: {e.Message}"));
        }
    }

    /// <summary>
    /// Replaces the state machine's state and the sessions with the storage's latest snapshot
    /// (Figure 13, rule 8): at start, and after a snapshot from the leader is saved.
    /// </summary>
    private async Task RestoreAsync()
    {
        var parent = Context.Parent;
        if (_stateMachine is not ISnapshotStateMachine stateMachine)
        {
            parent.Tell(new StateMachineFailed(new NotSupportedException(
                $"the state machine ({_stateMachine.GetType().FullName}) does not implement {nameof(ISnapshotStateMachine)}, so it cannot take the state of a snapshot")));
            return;
        }

        LogPosition position;
        try
        {
            var opened = _storage.OpenSnapshot();
            var content = opened.Content;
            position = opened.Position;
            await using (content)
            {
                var sessions = await SnapshotContent.ReadSessionsAsync(content, _protocolSerializer, CancellationToken.None);
                await stateMachine.RestoreAsync(content, CancellationToken.None);
                _applied.Restored(position, opened.Configuration ?? _bootstrap, sessions);
                _metrics.ClientSessions = sessions.Count;
            }
        }
        catch (Exception e)
        {
            // The state machine may be half restored: nothing can be applied to it safely.
            parent.Tell(new StateMachineFailed(e));
            return;
        }

        _log.Info("State machine restored from the snapshot through entry {0} (term {1})", position.Index, position.Term);
        parent.Tell(new AppliedThrough(position.Index));
    }

    private sealed class TakeSnapshot
    {
        public static readonly TakeSnapshot Instance = new();
    }
}

/// <summary>Committed entries to apply, with the clients waiting for some of them (by index).</summary>
internal sealed record ApplyCommitted(IReadOnlyList<LogEntry> Entries, IReadOnlyDictionary<long, IActorRef> Clients);

/// <summary>Runs a confirmed read after everything before it in the mailbox was applied.</summary>
internal record RunQuery(object Query, IActorRef Client);

/// <summary>A confirmed read that writes the whole state to a snapshot file (a backup).</summary>
internal sealed record RunExport(ExportSnapshot Export, IActorRef Client) : RunQuery(Export, Client);

/// <summary>The state machine takes the state of the storage's latest snapshot (at start, or after installing one).</summary>
internal sealed class RestoreLatestSnapshot
{
    public static readonly RestoreLatestSnapshot Instance = new();
}

/// <summary>The applier's progress, for the node's status.</summary>
internal sealed record AppliedThrough(long Index);

/// <summary>The applier wrote and staged a snapshot; the node now owns the sink (saves or discards it).</summary>
internal sealed record SnapshotWritten(SnapshotSink Sink);

/// <summary>The state machine could not restore a snapshot: it is in no state to apply anything.</summary>
internal sealed record StateMachineFailed(Exception Error);
