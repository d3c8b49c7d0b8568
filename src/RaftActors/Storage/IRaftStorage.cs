using RaftActors.Core;

namespace RaftActors.Storage;

/// <summary>
/// A node's stable storage. A store is opened (and its contents checked) before the node
/// starts, so the node reads its durable state without touching the disk; writes are
/// asynchronous and the node waits for their completion before it sends anything that
/// depends on them. Writes are issued one at a time, in order.
/// </summary>
public interface IRaftStorage
{
    /// <summary>The hard state as of the last completed save (or as loaded when opened).</summary>
    HardState HardState { get; }

    /// <summary>Makes <paramref name="state"/> durable; the task completes once it is.</summary>
    Task SaveHardStateAsync(HardState state);
}
