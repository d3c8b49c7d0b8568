using RaftActors.Core;

namespace RaftActors.Storage;

/// <summary>
/// A snapshot being written (<see cref="IRaftStorage.CreateSnapshot"/>): its content is appended
/// front to back, never held whole in memory by the file store. <see cref="CompleteAsync"/> makes
/// it durable and stages it; a write with <see cref="SaveSnapshot"/> for <see cref="Position"/>
/// then makes it the store's latest snapshot. <see cref="Dispose"/> discards a snapshot that was not
/// saved. One writer at a time.
/// </summary>
public abstract class SnapshotSink : IDisposable
{
    protected SnapshotSink(LogPosition position, ClusterConfiguration? configuration)
    {
        Position = position;
        Configuration = configuration;
    }

    /// <summary>The last entry the snapshot covers.</summary>
    public LogPosition Position { get; }

    /// <summary>The cluster's configuration as of <see cref="Position"/>, saved with the snapshot (null: none recorded).</summary>
    public ClusterConfiguration? Configuration { get; }

    /// <summary>Bytes of content written so far.</summary>
    public abstract long Length { get; }

    /// <summary>Appends <paramref name="data"/> to the content.</summary>
    public abstract Task WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default);

    /// <summary>Makes the content written so far durable.</summary>
    public abstract Task FlushAsync(CancellationToken cancellationToken = default);

    /// <summary>Makes the whole content durable and stages the snapshot for saving; nothing more can be written.</summary>
    public abstract Task CompleteAsync(CancellationToken cancellationToken = default);

    /// <summary>A write-only stream of the content, for a state machine to write into; disposing it leaves the sink as it is.</summary>
    public Stream AsStream() => new ContentStream(this);

    /// <summary>Discards the snapshot unless it was saved (a saved one belongs to the store).</summary>
    public abstract void Dispose();

    public override string ToString() => $"snapshot through {Position.Index} (term {Position.Term}), {Length} bytes";

    private sealed class ContentStream(SnapshotSink sink) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => sink.Length;

        public override long Position
        {
            get => sink.Length;
            set => throw new NotSupportedException("a snapshot's content is written front to back");
        }

        public override void Write(byte[] buffer, int offset, int count) =>
            sink.WriteAsync(buffer.AsMemory(offset, count)).GetAwaiter().GetResult();

        public override void Write(ReadOnlySpan<byte> buffer) => sink.WriteAsync(buffer.ToArray()).GetAwaiter().GetResult();

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            sink.WriteAsync(buffer.AsMemory(offset, count), cancellationToken);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            new(sink.WriteAsync(buffer, cancellationToken));

        // Durability comes with CompleteAsync; a writer's flush (BinaryWriter, StreamWriter) has nothing to push.
        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
