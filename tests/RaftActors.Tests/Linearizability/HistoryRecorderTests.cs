using RaftActors.Linearizability;

namespace RaftActors.Tests.Linearizability;

public sealed class HistoryRecorderTests
{
    [Fact]
    public void Records_calls_and_returns_on_its_clock_leaves_out_failures_and_counts_pending_as_unknown()
    {
        var now = 0L;
        var recorder = new HistoryRecorder(() => now);
        now = 1;
        var put = recorder.Invoke(1, KvOperationKind.Put, "x", "a");
        now = 2;
        var get = recorder.Invoke(2, KvOperationKind.Get, "x");
        now = 3;
        var cas = recorder.Invoke(3, KvOperationKind.CompareAndSet, "x", "b", expected: "a");
        var refused = recorder.Invoke(4, KvOperationKind.Delete, "x");
        now = 4;
        recorder.Complete(put, new KvOutput(true, null));
        recorder.Unknown(get);
        recorder.Fail(refused);
        now = 5;
        var late = recorder.Invoke(2, KvOperationKind.Get, "x"); // process 2 goes on after its unknown outcome

        Assert.Equal(
            [
                new KvOperation(1, KvOperationKind.Put, "x", "a", null, 1, 4, new KvOutput(true, null)),
                new KvOperation(2, KvOperationKind.Get, "x", null, null, 2, null, null),
                new KvOperation(3, KvOperationKind.CompareAndSet, "x", "b", "a", 3, null, null),
                new KvOperation(2, KvOperationKind.Get, "x", null, null, 5, null, null),
            ],
            recorder.History);
        Assert.Equal((1, 3, 1), recorder.Counts);

        now = 6;
        recorder.Complete(late, new KvOutput(true, "a"));
        Assert.Equal(6, recorder.History[^1].Return);
        Assert.Equal(LinearizabilityVerdict.Ok, LinearizabilityChecker.Check(recorder.History, TimeSpan.FromSeconds(1)).Verdict);
    }

    [Fact]
    public void A_process_has_one_operation_pending_and_each_is_resolved_once()
    {
        var recorder = new HistoryRecorder();
        var first = recorder.Invoke(1, KvOperationKind.Get, "x");
        Assert.Throws<InvalidOperationException>(() => recorder.Invoke(1, KvOperationKind.Get, "y"));
        recorder.Complete(first, new KvOutput(true, null));
        Assert.Throws<InvalidOperationException>(() => recorder.Unknown(first));
        Assert.Throws<ArgumentOutOfRangeException>(() => recorder.Fail(7));
        Assert.Throws<ArgumentException>(() => recorder.Invoke(2, KvOperationKind.Put, "x")); // a put needs its value
    }

    [Fact]
    public void Many_threads_record_at_once()
    {
        var recorder = new HistoryRecorder();
        Parallel.For(0, 8, process =>
        {
            for (var i = 0; i < 500; i++)
            {
                var handle = recorder.Invoke(process, KvOperationKind.Put, $"k{process}", $"v{i}");
                recorder.Complete(handle, new KvOutput(true, null));
            }
        });

        var history = recorder.History;
        Assert.Equal(4000, history.Count);
        Assert.True(history.Zip(history.Skip(1)).All(p => p.First.Call <= p.Second.Call), "calls in the order they were made");
        Assert.Equal(LinearizabilityVerdict.Ok, LinearizabilityChecker.Check(history, TimeSpan.FromSeconds(10)).Verdict);
    }
}
