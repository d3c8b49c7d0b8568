using Akka.Actor;
using Akka.Event;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Storage;

namespace RaftActors.Node;

/// <summary>
/// A Raft node as an Akka.NET FSM whose states are the three Raft roles. The protocol's
/// decisions are made by <see cref="RaftProtocol"/>; this actor is its shell: it turns timer
/// messages and peers' messages into protocol inputs and carries out the effects — named
/// timers, durable writes off the actor's thread, and sends held back until what they depend
/// on is durable. Role, term and leader changes are published on the EventStream.
/// </summary>
public sealed class RaftNode : FSM<RaftRole, RaftStatus>
{
    private const string ElectionTimer = "election";
    private const string HeartbeatTimer = "heartbeat";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly RaftProtocol _protocol;
    private readonly IRaftStorage _storage;
    private readonly IReadOnlyDictionary<string, IActorRef> _peers;
    private readonly DurableOutbox _outbox = new();
    private readonly HashSet<IActorRef> _subscribers = new();
    private readonly Action<string, IRaftProtocolMessage> _deliver;

    // A restarted actor is a new incarnation with a fresh outbox; a write started by the previous
    // one may still complete, and its completion must not release this incarnation's messages.
    private readonly object _incarnation = new();

    public RaftNode(RaftMembership membership, RaftSettings settings, IRaftStorage storage)
    {
        _storage = storage;
        var provider = ((ExtendedActorSystem)Context.System).Provider;
        _peers = membership.Peers.ToDictionary(p => p.Id, p => provider.ResolveActorRef(p.Path), StringComparer.Ordinal);
        _deliver = (to, message) => _peers[to].Tell(message, Self);

        var seed = settings.ElectionSeedFor(membership.SelfId);
        _log.Info("Raft node {0} starting at term {1} (vote {2}), {3} peers, election timeout seed {4}",
            membership.SelfId, storage.HardState.Term, storage.HardState.VotedFor ?? "none", _peers.Count, seed);
        _protocol = new RaftProtocol(
            membership.SelfId,
            _peers.Keys.ToList(),
            storage.HardState,
            new ElectionTimeouts(settings.ElectionTimeoutMin, settings.ElectionTimeoutMax, new Random(seed)),
            settings.HeartbeatInterval);

        StartWith(RaftRole.Follower, Status());

        // Followers and candidates wait for a leader; when the wait times out they start an election.
        When(RaftRole.Follower, e => e.FsmEvent is ElectionTimerElapsed ? Run(p => p.ElectionTimeoutElapsed()) : null);
        When(RaftRole.Candidate, e => e.FsmEvent is ElectionTimerElapsed ? Run(p => p.ElectionTimeoutElapsed()) : null);

        // A leader keeps its followers from timing out.
        When(RaftRole.Leader, e => e.FsmEvent is HeartbeatTimerElapsed ? Run(p => p.HeartbeatTimeoutElapsed()) : null);

        // In every role: peers' messages go to the protocol, which applies the higher-term rule
        // first and then the rule of the role; the rest is bookkeeping shared by all roles.
        WhenUnhandled(e => e.FsmEvent switch
        {
            IRaftProtocolMessage message => Run(p => StepPeerMessage(p, message)),
            HardStateDurable durable when durable.Incarnation == _incarnation => OnHardStateDurable(durable),
            HardStateWriteFailed failed when failed.Incarnation == _incarnation => OnHardStateWriteFailed(failed),
            HardStateDurable or HardStateWriteFailed => Stay(), // the previous incarnation's write
            GetRaftStatus => Reply(Status()),
            SubscribeRaftEvents subscribe => Subscribe(subscribe.Subscriber),
            UnsubscribeRaftEvents unsubscribe => Unsubscribe(unsubscribe.Subscriber),
            Terminated terminated => Unsubscribe(terminated.ActorRef),
            _ => Ignore(e.FsmEvent),
        });

        Initialize();
    }

    /// <summary>Props for a node with the given membership, settings and (already opened) storage.</summary>
    public static Props Props(RaftMembership membership, RaftSettings settings, IRaftStorage storage) =>
        Akka.Actor.Props.Create(() => new RaftNode(membership, settings, storage));

    /// <summary>Props for a node reading <c>raft.node-id</c>, <c>raft.members</c> and its settings from HOCON.</summary>
    public static Props Props(Akka.Configuration.Config config, IRaftStorage storage) =>
        Props(RaftMembership.FromConfig(config), RaftSettings.FromConfig(config), storage);

    protected override void PreStart()
    {
        base.PreStart();
        _protocol.Start();
        CarryOutEffects();
    }

    private State<RaftRole, RaftStatus> Run(Action<RaftProtocol> input)
    {
        var before = Status();
        input(_protocol);
        CarryOutEffects();
        var after = Status();
        if (after.Role != before.Role || after.Term != before.Term || after.LeaderId != before.LeaderId)
            Publish(new RaftStateChanged(after.NodeId, after.Role, after.Term, after.LeaderId, before));
        return (after.Role == StateName ? Stay() : GoTo(after.Role)).Using(after);
    }

    private void StepPeerMessage(RaftProtocol protocol, IRaftProtocolMessage message)
    {
        if (!protocol.Step(message))
            _log.Warning("Dropped {0} from '{1}', which is not a member of this cluster", message.GetType().Name, message.From);
    }

    private void CarryOutEffects()
    {
        foreach (var effect in _protocol.DrainEffects())
        {
            switch (effect)
            {
                case PersistHardState persist:
                    _outbox.Persist(persist.State);
                    break;
                case SendMessage send:
                    _outbox.Send(send.To, send.Message, _deliver);
                    break;
                case ResetElectionTimer reset:
                    SetTimer(ElectionTimer, ElectionTimerElapsed.Instance, reset.Timeout);
                    break;
                case StopElectionTimer:
                    CancelTimer(ElectionTimer);
                    break;
                case StartHeartbeatTimer start:
                    SetTimer(HeartbeatTimer, HeartbeatTimerElapsed.Instance, start.Interval, repeat: true);
                    break;
                case StopHeartbeatTimer:
                    CancelTimer(HeartbeatTimer);
                    break;
                default:
                    throw new InvalidOperationException($"unknown effect {effect}");
            }
        }

        StartNextWrite();
    }

    /// <summary>Writes run on the thread pool; their completion comes back as a message.</summary>
    private void StartNextWrite()
    {
        if (_outbox.TakeNextWrite() is not { } write)
            return;
        _storage.SaveHardStateAsync(write.State).PipeTo(
            Self,
            success: () => new HardStateDurable(_incarnation, write.Version),
            failure: error => new HardStateWriteFailed(_incarnation, write.Version, error));
    }

    private State<RaftRole, RaftStatus> OnHardStateDurable(HardStateDurable durable)
    {
        _outbox.Durable(durable.Version, _deliver);
        StartNextWrite();
        return Stay();
    }

    private State<RaftRole, RaftStatus> OnHardStateWriteFailed(HardStateWriteFailed failed)
    {
        // Going on without durable state could break a promise (a vote) after a crash; a node
        // that cannot write stops, and its messages waiting for the write are never sent.
        _log.Error(failed.Error, "Writing the hard state failed; node {0} stops to stay safe", _protocol.NodeId);
        return Stop(new FSMBase.Failure(failed.Error));
    }

    private State<RaftRole, RaftStatus> Reply(object message)
    {
        Sender.Tell(message);
        return Stay();
    }

    private State<RaftRole, RaftStatus> Subscribe(IActorRef subscriber)
    {
        if (_subscribers.Add(subscriber))
            Context.Watch(subscriber);
        subscriber.Tell(Status());
        return Stay();
    }

    private State<RaftRole, RaftStatus> Unsubscribe(IActorRef subscriber)
    {
        if (_subscribers.Remove(subscriber))
            Context.Unwatch(subscriber);
        return Stay();
    }

    private State<RaftRole, RaftStatus> Ignore(object message)
    {
        _log.Warning("Node {0} dropped an unknown message of type {1}", _protocol.NodeId, message.GetType().FullName);
        return Stay();
    }

    private void Publish(RaftStateChanged change)
    {
        _log.Info("Node {0}: {1} in term {2}, leader {3}", change.NodeId, change.Role, change.Term, change.LeaderId ?? "unknown");
        Context.System.EventStream.Publish(change);
        foreach (var subscriber in _subscribers)
            subscriber.Tell(change);
    }

    private RaftStatus Status() =>
        new(_protocol.NodeId, _protocol.Role, _protocol.Term, _protocol.LeaderId, _protocol.HardState.VotedFor);

    private sealed class ElectionTimerElapsed
    {
        public static readonly ElectionTimerElapsed Instance = new();
    }

    private sealed class HeartbeatTimerElapsed
    {
        public static readonly HeartbeatTimerElapsed Instance = new();
    }

    private sealed record HardStateDurable(object Incarnation, long Version);

    private sealed record HardStateWriteFailed(object Incarnation, long Version, Exception Error);
}
