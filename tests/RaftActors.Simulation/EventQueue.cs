namespace RaftActors.Simulation;

/// <summary>What happens at a point of virtual time. Events at the same time run in the order they were scheduled.</summary>
internal enum EventKind : byte
{
    DeliverPeerMessage,
    ElectionTimer,
    HeartbeatTimer,
    FlushReplication,
    WriteDurable,
    ClientRequestArrives,
    ClientReplyArrives,
    ClientRequestTimeout,
    ClientNextOperation,
    Nemesis,
    LivenessCheck,

    /// <summary>A node's disk finished something of its snapshots (<see cref="NodeIo"/>); dropped if the node restarted since.</summary>
    NodeIo,

    /// <summary>The operator's membership request or leadership transfer reaches a node.</summary>
    OperatorRequestArrives,

    /// <summary>A node's answer reaches the operator.</summary>
    OperatorReplyArrives,

    /// <summary>The operator's own timers: a retry, a request's timeout, a removed server to stop.</summary>
    Operator,
}

/// <summary>What a node's disk finished, and what the node does then.</summary>
internal sealed record NodeIo(string What, Action Done);

/// <summary>
/// One scheduled event. <see cref="Target"/> is a node or client index; <see cref="Generation"/>
/// tells a cancelled timer, or an older incarnation's event, from a live one.
/// </summary>
internal readonly record struct SimEvent(EventKind Kind, int Target, long Generation = 0, object? Payload = null, int From = -1);

/// <summary>
/// Virtual time: a priority queue of events by (time, order of scheduling), so a run is a pure
/// function of its seed — no wall clock, no thread, no hash order.
/// </summary>
internal sealed class EventQueue
{
    private readonly PriorityQueue<SimEvent, EventKey> _queue = new();
    private long _scheduled;

    /// <summary>Virtual time now, in microseconds since the run started.</summary>
    public long Now { get; private set; }

    public void After(long delayMicros, SimEvent e) => _queue.Enqueue(e, new EventKey(Now + Math.Max(0, delayMicros), _scheduled++));

    public bool TryNext(out SimEvent e)
    {
        if (!_queue.TryDequeue(out e, out var key))
            return false;
        Now = key.Time;
        return true;
    }

    private readonly record struct EventKey(long Time, long Order) : IComparable<EventKey>
    {
        public int CompareTo(EventKey other) => Time != other.Time ? Time.CompareTo(other.Time) : Order.CompareTo(other.Order);
    }
}

internal static class Micros
{
    public static long Of(TimeSpan span) => span.Ticks / TimeSpan.TicksPerMicrosecond;

    public static long Millis(double ms) => (long)(ms * 1000);

    public static string Format(long micros) => $"{micros / 1000.0:0.000} ms";
}
