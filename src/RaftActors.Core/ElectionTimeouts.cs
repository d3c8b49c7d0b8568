namespace RaftActors.Core;

/// <summary>
/// Draws randomized election timeouts, uniform in [min, max), anew for every reset (§5.2):
/// the spread is what makes split votes rare and short-lived.
/// </summary>
internal sealed class ElectionTimeouts
{
    private readonly Random _random;

    public ElectionTimeouts(TimeSpan min, TimeSpan max, Random random)
    {
        if (min <= TimeSpan.Zero || max <= min)
            throw new ArgumentException($"election timeouts need 0 < min < max, got [{min}, {max})");
        Min = min;
        Max = max;
        _random = random;
    }

    public TimeSpan Min { get; }

    public TimeSpan Max { get; }

    public TimeSpan Next() => Min + TimeSpan.FromTicks(_random.NextInt64((Max - Min).Ticks));

    /// <summary>
    /// The short wait before a candidate that lost a split vote campaigns again, uniform in
    /// [0, (max - min) / 4): a quarter of the ordinary spread, so that the few candidates that take
    /// it rarely collide again, and short beside an ordinary timeout.
    /// </summary>
    public TimeSpan NextAfterSplitVote() => TimeSpan.FromTicks(_random.NextInt64((Max - Min).Ticks / 4));
}
