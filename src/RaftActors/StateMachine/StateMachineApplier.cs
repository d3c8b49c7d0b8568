using Akka.Actor;
using Akka.Event;
using RaftActors.Core;
using RaftActors.Messages;

namespace RaftActors.StateMachine;

/// <summary>
/// Applies committed entries to the state machine, in index order, each once, off the Raft
/// actor's thread, and answers the clients waiting for them. It also runs confirmed reads: a
/// read arrives after the entries it must see, so mailbox order is all the waiting it needs.
/// Client sessions live here because they are part of the replicated state: every node skips
/// the same duplicates.
/// </summary>
internal sealed class StateMachineApplier : ReceiveActor
{
    /// <summary>Results kept per client session, for retries of its most recent commands.</summary>
    private const int RememberedResultsPerClient = 64;

    private readonly IRaftStateMachine _stateMachine;
    private readonly Akka.Serialization.Serialization _serialization;
    private readonly Dictionary<string, ClientSession> _sessions = new(StringComparer.Ordinal);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private long _lastApplied;

    public StateMachineApplier(IRaftStateMachine stateMachine)
    {
        _stateMachine = stateMachine;
        _serialization = Context.System.Serialization;
        Receive<ApplyCommitted>(Apply);
        Receive<RunQuery>(Query);
    }

    public static Props Props(IRaftStateMachine stateMachine) =>
        Akka.Actor.Props.Create(() => new StateMachineApplier(stateMachine));

    private void Apply(ApplyCommitted batch)
    {
        foreach (var entry in batch.Entries)
        {
            if (entry.Index != _lastApplied + 1)
                throw new InvalidOperationException($"entry {entry.Index} applied after {_lastApplied}: the applier must see every index once, in order");
            _lastApplied = entry.Index;
            if (entry.Command is null)
                continue; // a leader's no-op
            var reply = ApplyCommand(entry.Index, entry.Command);
            if (batch.Clients.TryGetValue(entry.Index, out var client))
                client.Tell(reply);
        }

        Context.Parent.Tell(new AppliedThrough(_lastApplied));
    }

    private IClientReply ApplyCommand(long index, EntryCommand command)
    {
        ClientSession? session = null;
        if (command.ClientId is { } clientId)
        {
            session = _sessions.TryGetValue(clientId, out var known) ? known : _sessions[clientId] = new ClientSession();
            if (session.Results.TryGetValue(command.Sequence, out var earlier))
                return earlier; // a retry of a command already applied: its first result, no second effect
            if (command.Sequence <= session.HighestSequence - RememberedResultsPerClient)
            {
                // It may have been applied long ago, its result since forgotten: not applied now,
                // but whether it ever was cannot be told.
                return new CommandOutcomeUnknown(
                    $"command {command.Sequence} of client {clientId} is older than the last {RememberedResultsPerClient} this cluster remembers; it was not applied again");
            }
        }

        IClientReply reply;
        try
        {
            var payload = _serialization.Deserialize(command.Data, command.SerializerId, command.Manifest);
            reply = new CommandApplied(index, _stateMachine.Apply(index, payload));
        }
        catch (Exception e)
        {
            // Deterministic on every node: the same bytes fail the same way everywhere.
            _log.Warning("Entry {0} ({1}) failed in the state machine: {2}", index, command, e.Message);
            reply = new CommandFailed(index, e.Message);
        }

        session?.Remember(command.Sequence, reply);
        return reply;
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

    private sealed class ClientSession
    {
        public long HighestSequence { get; private set; }

        public Dictionary<long, IClientReply> Results { get; } = new();

        public void Remember(long sequence, IClientReply reply)
        {
            Results[sequence] = reply;
            if (sequence <= HighestSequence)
                return;

            // Forget what falls out of the window as it moves. Everything kept lies in the old
            // window (previous highest - window, previous highest], so that is all there is to scan.
            var forgetFrom = Math.Max(1, HighestSequence - RememberedResultsPerClient + 1);
            var forgetTo = Math.Min(sequence - RememberedResultsPerClient, HighestSequence);
            HighestSequence = sequence;
            for (var old = forgetFrom; old <= forgetTo; old++)
                Results.Remove(old);
        }
    }
}

/// <summary>Committed entries to apply, with the clients waiting for some of them (by index).</summary>
internal sealed record ApplyCommitted(IReadOnlyList<LogEntry> Entries, IReadOnlyDictionary<long, IActorRef> Clients);

/// <summary>Runs a confirmed read after everything before it in the mailbox was applied.</summary>
internal sealed record RunQuery(object Query, IActorRef Client);

/// <summary>The applier's progress, for the node's status.</summary>
internal sealed record AppliedThrough(long Index);
