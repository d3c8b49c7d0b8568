namespace RaftActors.Client;

/// <summary>A request through a <see cref="RaftClient"/> ended without the answer asked for.</summary>
public abstract class RaftClientException : Exception
{
    protected RaftClientException(string message)
        : base(message)
    {
    }
}

/// <summary>
/// The client gave up on a command without a definite answer: some attempt may have reached a
/// leader's log, so the command may be applied, now or later, or never. It is applied at most
/// once (the session's <see cref="ClientId"/> and <see cref="Sequence"/> guard against duplicates).
/// Find out by reading the state; do not send the same change again as a new command blindly.
/// </summary>
public sealed class RaftCommandOutcomeUnknownException : RaftClientException
{
    public RaftCommandOutcomeUnknownException(string clientId, long sequence, int attempts, TimeSpan elapsed, string lastProblem)
        : base($"Command {sequence} of client '{clientId}' may or may not have been applied: the Raft cluster gave no definite answer "
               + $"in {Describe(elapsed)} and {attempts} attempt(s) (last: {lastProblem}). It is applied at most once, but whether it was "
               + "applied is unknown; read the state before sending the change again.")
    {
        ClientId = clientId;
        Sequence = sequence;
        Attempts = attempts;
        LastProblem = lastProblem;
    }

    internal RaftCommandOutcomeUnknownException(string clientId, string message)
        : base(message)
    {
        ClientId = clientId;
        LastProblem = message;
    }

    public string ClientId { get; }

    /// <summary>The command's session sequence number; 0 when the client actor itself did not answer.</summary>
    public long Sequence { get; }

    public int Attempts { get; }

    /// <summary>What went wrong with the last attempt.</summary>
    public string LastProblem { get; }

    internal static string Describe(TimeSpan elapsed) =>
        elapsed.TotalSeconds >= 1 ? $"{elapsed.TotalSeconds:0.###} s" : $"{elapsed.TotalMilliseconds:0.#} ms";
}

/// <summary>
/// The leader refused a membership change or a leadership transfer, for <see cref="Reason"/>: it
/// certainly did not take effect.
/// </summary>
public sealed class RaftMembershipRefusedException : RaftClientException
{
    public RaftMembershipRefusedException(string what, Core.MembershipRefusalReason reason, string message)
        : base($"The Raft cluster refused {what}: {message} ({reason})")
    {
        Reason = reason;
        Refusal = message;
    }

    public Core.MembershipRefusalReason Reason { get; }

    /// <summary>The leader's explanation.</summary>
    public string Refusal { get; }
}

/// <summary>
/// The client gave up on a membership change or a transfer without a definite answer (the leader
/// lost its leadership midway, or did not answer in time): it may or may not take effect. Read
/// the configuration (<see cref="Messages.GetClusterConfiguration"/>) before asking again.
/// </summary>
public sealed class RaftMembershipOutcomeUnknownException : RaftClientException
{
    public RaftMembershipOutcomeUnknownException(string what, int attempts, TimeSpan elapsed, string lastProblem)
        : base($"{what} may or may not take effect: the Raft cluster gave no definite answer in {RaftCommandOutcomeUnknownException.Describe(elapsed)} " +
               $"and {attempts} attempt(s) (last: {lastProblem}); read the configuration before asking again.")
    {
        LastProblem = lastProblem;
    }

    /// <summary>What went wrong with the last attempt.</summary>
    public string LastProblem { get; }
}

/// <summary>
/// No leader answered within the client's deadline or attempts, and the request certainly had no
/// effect: a query (queries change nothing), or a command that every node answered with
/// "not the leader" or that was never sent. Retrying is safe.
/// </summary>
public sealed class RaftUnavailableException : RaftClientException
{
    public RaftUnavailableException(string what, int attempts, TimeSpan elapsed, string lastProblem)
        : base($"The Raft cluster did not answer {what} in {RaftCommandOutcomeUnknownException.Describe(elapsed)} and {attempts} attempt(s) "
               + $"(last: {lastProblem}); it had no effect, so retrying is safe.")
    {
        Attempts = attempts;
        LastProblem = lastProblem;
    }

    public int Attempts { get; }

    /// <summary>What went wrong with the last attempt (or why none was made).</summary>
    public string LastProblem { get; }

    /// <summary>
    /// The last attempt was refused because the cluster's session table was full of sessions too
    /// young to evict (<see cref="Messages.TooManySessions"/>): retry after a while.
    /// </summary>
    public bool TooManySessions { get; init; }
}

/// <summary>A node refused the request, which certainly had no effect; retrying it unchanged will not help.</summary>
public sealed class RaftRequestRejectedException : RaftClientException
{
    public RaftRequestRejectedException(string what, string reason)
        : base($"The Raft cluster rejected {what}: {reason}. It had no effect.")
    {
        Reason = reason;
    }

    /// <summary>The node's reason.</summary>
    public string Reason { get; }
}

/// <summary>
/// The command was committed at <see cref="Index"/> and the state machine failed on it — on every
/// node alike, since application is deterministic. It is final: the command will not be applied again.
/// </summary>
public sealed class RaftCommandFailedException : RaftClientException
{
    public RaftCommandFailedException(string what, long index, string reason)
        : base($"{what} was committed at log index {index}, but the state machine failed on it: {reason}")
    {
        Index = index;
        Reason = reason;
    }

    /// <summary>The command's log index.</summary>
    public long Index { get; }

    /// <summary>The state machine's error message.</summary>
    public string Reason { get; }
}
