using RaftActors.Linearizability;

namespace RaftActors.Tests.Linearizability;

/// <summary>
/// Short-hand for hand-written histories: each operation with its call and return time; a
/// return of null is an unknown outcome.
/// </summary>
internal static class KvHistories
{
    public static KvOperation Get(int process, string key, string? read, long call, long? ret) =>
        Op(process, KvOperationKind.Get, key, null, null, call, ret, new KvOutput(true, read));

    public static KvOperation Put(int process, string key, string value, long call, long? ret) =>
        Op(process, KvOperationKind.Put, key, value, null, call, ret, new KvOutput(true, null));

    public static KvOperation Delete(int process, string key, long call, long? ret) =>
        Op(process, KvOperationKind.Delete, key, null, null, call, ret, new KvOutput(true, null));

    /// <summary>A compare-and-set that swapped (or, with <paramref name="ret"/> null, whose outcome is unknown).</summary>
    public static KvOperation Cas(int process, string key, string? expected, string value, long call, long? ret) =>
        Op(process, KvOperationKind.CompareAndSet, key, value, expected, call, ret, new KvOutput(true, null));

    /// <summary>A compare-and-set that did not swap because the key held <paramref name="current"/>.</summary>
    public static KvOperation CasFailed(int process, string key, string? expected, string value, string? current, long call, long ret) =>
        Op(process, KvOperationKind.CompareAndSet, key, value, expected, call, ret, new KvOutput(false, current));

    private static KvOperation Op(int process, KvOperationKind kind, string key, string? value, string? expected, long call, long? ret, KvOutput output) =>
        new(process, kind, key, value, expected, call, ret, ret is null ? null : output);

    public static LinearizabilityResult Check(params KvOperation[] history) =>
        LinearizabilityChecker.Check(history, TimeSpan.FromSeconds(10));

    public static void AssertLinearizable(params KvOperation[] history)
    {
        var result = Check(history);
        Assert.True(result.Verdict == LinearizabilityVerdict.Ok, result.ToString());
    }

    /// <summary>Asserts the verdict, and that the counterexample is a part of the history that fails on its own.</summary>
    public static LinearizabilityResult AssertNotLinearizable(params KvOperation[] history)
    {
        var result = Check(history);
        Assert.True(result.Verdict == LinearizabilityVerdict.NotLinearizable, result.ToString());
        Assert.NotEmpty(result.Counterexample);
        Assert.All(result.Counterexample, o => Assert.Contains(o, history));
        Assert.All(result.Counterexample, o => Assert.Equal(result.Key, o.Key));
        var alone = LinearizabilityChecker.Check(result.Counterexample, TimeSpan.FromSeconds(10));
        Assert.True(alone.Verdict == LinearizabilityVerdict.NotLinearizable, $"the counterexample alone: {alone}");
        return result;
    }
}
