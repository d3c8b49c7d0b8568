using Akka.Actor;
using RaftActors.Messages;

namespace RaftActors.Client;

/// <summary>A node's answer to attempt <see cref="Attempt"/> of a <see cref="RaftClient"/>'s request, sent to <see cref="Target"/>.</summary>
internal sealed record AttemptAnswered(long RequestId, int Attempt, ActorPath Target, object Reply);

/// <summary>
/// An address that takes one reply and hands it on in place, on the replier's thread: a temporary
/// actor of the system while it waits, so an actor in another system reaches it too. What Ask does,
/// without its task, continuation and thread hop in between, which cost as much as the rest of a
/// command's trip through the client.
/// </summary>
internal abstract class OneShotReply : MinimalActorRef
{
    private int _settled;

    protected OneShotReply(IActorRefProvider provider)
    {
        Provider = provider;
        Path = provider.TempPath();
        provider.RegisterTempActor(this, Path);
    }

    public override ActorPath Path { get; }

    public override IActorRefProvider Provider { get; }

    /// <summary>Stops waiting: a later reply goes nowhere.</summary>
    public void Release()
    {
        if (Interlocked.Exchange(ref _settled, 1) == 0)
            Provider.UnregisterTempActor(Path);
    }

    protected override void TellInternal(object message, IActorRef sender)
    {
        if (Interlocked.Exchange(ref _settled, 1) != 0)
            return;
        Provider.UnregisterTempActor(Path);
        HandOn(message);
    }

    /// <summary>Hands the reply on; runs on the replier's thread, so it only passes it along.</summary>
    protected abstract void HandOn(object reply);
}

/// <summary>
/// Where a node answers one attempt of a <see cref="RaftClient"/>'s request: the answer goes
/// straight into the client actor's mailbox as an <see cref="AttemptAnswered"/>.
/// <para>
/// The answer that settles a command or a query (<paramref name="settles"/>: its
/// <see cref="CommandApplied"/> or <see cref="QueryResult"/>, final from any attempt) also goes
/// straight to a <paramref name="caller"/> that takes one answer only, a facade's
/// <see cref="ReplyPromise"/>: the caller is answered a hop sooner than through the client
/// actor. The actor hears of it first, settles the session and forgets the request as before;
/// its own answer to the caller then finds the promise settled and is dropped.
/// </para>
/// </summary>
internal sealed class AttemptReply(
    IActorRefProvider provider, IActorRef client, long requestId, int attempt, ActorPath target, ReplyPromise? caller, Type? settles)
    : OneShotReply(provider)
{
    protected override void HandOn(object reply)
    {
        client.Tell(new AttemptAnswered(requestId, attempt, target, reply), ActorRefs.NoSender);
        if (caller is not null && reply.GetType() == settles)
            caller.Tell(reply, ActorRefs.NoSender);
    }
}

/// <summary>
/// The sender of a <see cref="RaftClientFacade"/> request: the client actor's one reply completes
/// <see cref="Reply"/>, whose continuations run on the thread pool, never on the actor's thread.
/// </summary>
internal sealed class ReplyPromise(IActorRefProvider provider) : OneShotReply(provider)
{
    private readonly TaskCompletionSource<object> _reply = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<object> Reply => _reply.Task;

    protected override void HandOn(object reply) => _reply.TrySetResult(reply);
}
