using RaftActors.Linearizability;
using Xunit.Abstractions;
using static RaftActors.Tests.Linearizability.KvHistories;

namespace RaftActors.Tests.Linearizability;

/// <summary>
/// Hand-written key-value histories the checker must judge right, each small enough to check by
/// hand: times are [call, return], a return of null is an unknown outcome.
/// </summary>
public sealed class LinearizabilityCheckerTests(ITestOutputHelper output)
{
    [Fact]
    public void An_empty_history_and_a_sequential_one_are_linearizable()
    {
        AssertLinearizable();
        AssertLinearizable(
            Get(1, "x", null, 0, 1),
            Put(1, "x", "a", 2, 3),
            Get(2, "x", "a", 4, 5),
            Cas(1, "x", "a", "b", 6, 7),
            CasFailed(2, "x", "a", "c", "b", 8, 9),
            Delete(1, "x", 10, 11),
            Get(2, "x", null, 12, 13),
            Cas(1, "x", null, "d", 14, 15),
            Get(2, "x", "d", 16, 17));
    }

    [Fact]
    public void A_stale_read_is_not_linearizable_and_the_counterexample_is_the_three_operations_that_show_it()
    {
        var result = AssertNotLinearizable(
            Put(1, "x", "a", 0, 10),
            Get(3, "x", "a", 12, 15),
            Put(2, "x", "b", 20, 30),
            Get(3, "x", "a", 40, 50));
        output.WriteLine(result.Explanation);
        Assert.Equal("x", result.Key);
        Assert.Equal(["a", "b", "a"], result.Counterexample.Select(o => o.Value ?? o.Output!.Value));
        Assert.Contains("#3  p3 get \"x\" = \"a\"  [40 .. 50]", result.Explanation);
        Assert.Contains("The longest order found is #1 #2, after which the key is \"b\"; then nothing pending can take effect before #3 returns.", result.Explanation);
    }

    [Fact]
    public void A_read_of_a_value_never_written_or_written_only_later_is_not_linearizable()
    {
        AssertNotLinearizable(Get(1, "x", "ghost", 0, 10));
        AssertNotLinearizable(
            Get(1, "x", "a", 0, 10),
            Put(2, "x", "a", 11, 20));
    }

    [Fact]
    public void A_lost_update_an_acknowledged_write_gone_is_not_linearizable()
    {
        AssertNotLinearizable(
            Put(1, "x", "a", 0, 10),
            Get(2, "x", null, 20, 30));
        AssertNotLinearizable(
            Put(1, "x", "a", 0, 10),
            Put(2, "x", "b", 5, 15),
            Get(1, "x", "b", 20, 25),
            Get(2, "x", "a", 30, 35));
    }

    [Fact]
    public void Concurrency_makes_an_otherwise_illegal_order_legal()
    {
        // The read overlaps the write of "b": it may come first and still see "a".
        AssertLinearizable(
            Put(1, "x", "a", 0, 10),
            Put(2, "x", "b", 20, 50),
            Get(3, "x", "a", 30, 40));
        // ...or see "b", though "b" was written by an operation that had not returned yet.
        AssertLinearizable(
            Put(1, "x", "a", 0, 10),
            Put(2, "x", "b", 20, 50),
            Get(3, "x", "b", 30, 40));
        // Two overlapping reads may disagree about an overlapping write, but not in the order
        // that would need it undone: a, then b, then a again is illegal.
        AssertLinearizable(
            Put(1, "x", "a", 0, 10),
            Put(2, "x", "b", 20, 100),
            Get(3, "x", "b", 30, 40),
            Get(4, "x", "a", 25, 60));
        AssertNotLinearizable(
            Put(1, "x", "a", 0, 10),
            Put(2, "x", "b", 20, 100),
            Get(3, "x", "b", 30, 40),
            Get(4, "x", "a", 50, 60));
    }

    [Fact]
    public void Times_that_tie_count_as_overlap()
    {
        // The read is called at the very tick the write returns: they may be in either order.
        AssertLinearizable(
            Put(1, "x", "a", 0, 10),
            Get(2, "x", null, 10, 20));
    }

    [Fact]
    public void A_compare_and_set_that_succeeded_twice_from_the_same_value_is_not_linearizable()
    {
        var result = AssertNotLinearizable(
            Put(1, "x", "0", 0, 10),
            Cas(2, "x", "0", "1", 20, 40),
            Cas(3, "x", "0", "2", 25, 45));
        output.WriteLine(result.Explanation);
        Assert.Equal(3, result.Counterexample.Count);

        // ...unless a concurrent write put the value back in between.
        AssertLinearizable(
            Put(1, "x", "0", 0, 10),
            Cas(2, "x", "0", "1", 20, 40),
            Cas(3, "x", "0", "2", 25, 45),
            Put(4, "x", "0", 22, 42));
        // Creating an absent key twice is the same mistake; a delete between makes it legal.
        AssertNotLinearizable(
            Cas(1, "x", null, "a", 0, 10),
            Cas(2, "x", null, "b", 0, 10));
        AssertLinearizable(
            Cas(1, "x", null, "a", 0, 10),
            Cas(2, "x", null, "b", 0, 10),
            Delete(3, "x", 0, 10));
    }

    [Fact]
    public void A_failed_compare_and_set_must_report_the_value_that_was_there_and_differ_from_the_expected_one()
    {
        AssertLinearizable(
            Put(1, "x", "a", 0, 10),
            CasFailed(2, "x", "b", "c", "a", 20, 30));
        AssertNotLinearizable(
            Put(1, "x", "a", 0, 10),
            CasFailed(2, "x", "b", "c", "z", 20, 30));
        AssertNotLinearizable(
            Put(1, "x", "a", 0, 10),
            CasFailed(2, "x", "a", "c", "a", 20, 30));
        // A failed compare-and-set changes nothing.
        AssertNotLinearizable(
            Put(1, "x", "a", 0, 10),
            CasFailed(2, "x", "b", "c", "a", 20, 30),
            Get(3, "x", "c", 40, 50));
    }

    [Fact]
    public void A_delete_makes_the_key_absent()
    {
        AssertLinearizable(
            Put(1, "x", "a", 0, 10),
            Delete(2, "x", 20, 30),
            Get(1, "x", null, 40, 50),
            Cas(2, "x", null, "b", 60, 70));
        AssertNotLinearizable(
            Put(1, "x", "a", 0, 10),
            Delete(2, "x", 20, 30),
            Get(1, "x", "a", 40, 50));
    }

    [Fact]
    public void A_write_of_unknown_outcome_that_a_read_saw_must_have_taken_effect_after_its_call()
    {
        AssertLinearizable(
            Put(1, "x", "a", 0, null),
            Get(2, "x", "a", 10, 20));
        // It may have taken effect long after its client stopped waiting.
        AssertLinearizable(
            Put(1, "x", "a", 0, null),
            Put(2, "x", "b", 10, 20),
            Get(3, "x", "b", 30, 40),
            Get(3, "x", "a", 50, 60));
        // But not before it was called.
        AssertNotLinearizable(
            Get(2, "x", "a", 10, 20),
            Put(1, "x", "a", 30, null));
        // And only once: after it was overwritten, its value cannot come back.
        AssertNotLinearizable(
            Put(1, "x", "a", 0, null),
            Get(2, "x", "a", 10, 20),
            Put(2, "x", "b", 30, 40),
            Get(2, "x", "a", 50, 60));
    }

    [Fact]
    public void A_write_of_unknown_outcome_may_never_take_effect()
    {
        AssertLinearizable(
            Put(1, "x", "a", 0, null),
            Get(2, "x", null, 10, 20),
            Get(2, "x", null, 30, 40));
        AssertLinearizable(
            Put(1, "x", "a", 0, 10),
            Delete(2, "x", 5, null),
            Get(3, "x", "a", 20, 30));
        // A compare-and-set of unknown outcome whose expected value was never there cannot have swapped.
        AssertNotLinearizable(
            Cas(1, "x", "zzz", "a", 0, null),
            Get(2, "x", "a", 10, 20));
        AssertLinearizable(
            Put(1, "x", "z", 0, 5),
            Cas(1, "x", "z", "a", 6, null),
            Get(2, "x", "a", 10, 20));
    }

    [Fact]
    public void Keys_are_independent_and_a_failure_names_its_key_with_that_key_s_operations_only()
    {
        // Per key this is linearizable, though the two keys' reads see each other's writes "out of order".
        AssertLinearizable(
            Put(1, "x", "1", 0, 100),
            Put(2, "y", "1", 0, 100),
            Get(3, "x", null, 10, 20),
            Get(3, "y", "1", 30, 40),
            Get(4, "y", null, 10, 20),
            Get(4, "x", "1", 30, 40));

        var result = AssertNotLinearizable(
            Put(1, "x", "a", 0, 10),
            Put(1, "y", "a", 20, 30),
            Get(2, "x", "a", 40, 50),
            Get(2, "y", null, 60, 70),
            Put(1, "z", "a", 80, 90));
        Assert.Equal("y", result.Key);
        Assert.Equal(2, result.Counterexample.Count);
        Assert.Equal(3, result.Keys);
    }

    [Fact]
    public void Out_of_budget_is_unknown_never_ok()
    {
        // Thirty writes and thirty reads all at once, each read seeing a different write, and a
        // read afterwards of a value nobody wrote: not linearizable, but only after trying a
        // vast number of orders (about 2^30 sets of writes). A small instance is decided.
        static KvOperation[] Storm(int n)
        {
            var history = new List<KvOperation>();
            for (var i = 0; i < n; i++)
            {
                history.Add(Put(i, "x", $"v{i}", 0, 1000));
                history.Add(Get(n + i, "x", $"v{(i * 7) % n}", 0, 1000));
            }

            history.Add(Get(2 * n, "x", "ghost", 2000, 2001));
            return history.ToArray();
        }

        Assert.Equal(LinearizabilityVerdict.NotLinearizable, Check(Storm(4)).Verdict);
        var result = LinearizabilityChecker.Check(Storm(30), TimeSpan.FromMilliseconds(200));
        output.WriteLine(result.ToString());
        Assert.Equal(LinearizabilityVerdict.Unknown, result.Verdict);
        Assert.Equal("x", result.Key);
        Assert.Empty(result.Counterexample);
        Assert.Contains("time budget of 200 ms ran out", result.Explanation);
    }

    [Theory]
    [InlineData(KvOperationKind.Put, null, null, "needs the Value it writes")]
    [InlineData(KvOperationKind.Get, "v", null, "writes no Value")]
    [InlineData(KvOperationKind.Put, "v", "e", "only a CompareAndSet has an Expected value")]
    public void A_malformed_operation_is_refused_naming_the_problem(KvOperationKind kind, string? value, string? expected, string problem)
    {
        var operation = new KvOperation(1, kind, "x", value, expected, 0, 1, new KvOutput(true, null));
        var error = Assert.Throws<ArgumentException>(() => LinearizabilityChecker.Check([operation], TimeSpan.FromSeconds(1)));
        Assert.Contains(problem, error.Message);
    }

    [Fact]
    public void An_outcome_must_come_with_a_return_time_and_a_return_cannot_precede_its_call()
    {
        Assert.Throws<ArgumentException>(() => Check(new KvOperation(1, KvOperationKind.Get, "x", null, null, 0, null, new KvOutput(true, null))));
        Assert.Throws<ArgumentException>(() => Check(new KvOperation(1, KvOperationKind.Get, "x", null, null, 0, 1, null)));
        Assert.Throws<ArgumentException>(() => Check(new KvOperation(1, KvOperationKind.Get, "x", null, null, 5, 4, new KvOutput(true, null))));
        Assert.Throws<ArgumentException>(() => Check(new KvOperation(1, KvOperationKind.Put, "x", "v", null, 0, 1, new KvOutput(false, null))));
    }
}
