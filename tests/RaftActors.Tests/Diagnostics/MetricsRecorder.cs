using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using RaftActors.Diagnostics;

namespace RaftActors.Tests.Diagnostics;

/// <summary>
/// Listens to the RaftActors meter as an exporter would: counters summed and histograms'
/// measurements kept, per instrument and tag set, and gauges read on demand (<see cref="Gauge"/>).
/// Tags are matched by subset, so a test asks for ("raft.node.id", "n1") and gets every series of n1.
/// </summary>
public sealed class MetricsRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<(string Instrument, Dictionary<string, string?> Tags, double Value)> _measurements = new();
    private readonly object _gaugeLock = new();
    private List<(string Instrument, Dictionary<string, string?> Tags, double Value)> _gauges = new();
    private List<(string Instrument, Dictionary<string, string?> Tags, double Value)>? _collecting;

    public MetricsRecorder()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == RaftMetrics.MeterName)
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    /// <summary>The sum of a counter's (or a histogram's) measurements with these tags.</summary>
    public double Sum(string instrument, params (string Key, string Value)[] tags) =>
        Matching(_measurements, instrument, tags).Sum(m => m.Value);

    /// <summary>How many measurements a histogram (or counter) got with these tags.</summary>
    public int Count(string instrument, params (string Key, string Value)[] tags) =>
        Matching(_measurements, instrument, tags).Count();

    /// <summary>Every measurement of an instrument with these tags.</summary>
    public IReadOnlyList<double> Values(string instrument, params (string Key, string Value)[] tags) =>
        Matching(_measurements, instrument, tags).Select(m => m.Value).ToList();

    /// <summary>Reads the gauges now; their series with these tags, each with its full tag set.</summary>
    public IReadOnlyList<(IReadOnlyDictionary<string, string?> Tags, double Value)> Gauge(string instrument, params (string Key, string Value)[] tags)
    {
        lock (_gaugeLock)
        {
            _collecting = new();
            _listener.RecordObservableInstruments();
            _gauges = _collecting;
            _collecting = null;
            return Matching(_gauges, instrument, tags).Select(m => ((IReadOnlyDictionary<string, string?>)m.Tags, m.Value)).ToList();
        }
    }

    /// <summary>The one value of a gauge with these tags (null when it has no such series).</summary>
    public double? GaugeValue(string instrument, params (string Key, string Value)[] tags) =>
        Gauge(instrument, tags) is [var only] ? only.Value : null;

    /// <summary>Polls <paramref name="condition"/> every 20 ms until it holds; fails naming <paramref name="what"/> after <paramref name="within"/>.</summary>
    public static Task WaitUntil(string what, TimeSpan within, Func<bool> condition) =>
        WaitUntil(what, within, () => Task.FromResult(condition()));

    /// <inheritdoc cref="WaitUntil(string, TimeSpan, Func{bool})"/>
    public static async Task WaitUntil(string what, TimeSpan within, Func<Task<bool>> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > within)
                throw new Xunit.Sdk.XunitException($"within {within.TotalSeconds} s: {what}");
            await Task.Delay(20);
        }
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var copy = new Dictionary<string, string?>();
        foreach (var tag in tags)
            copy[tag.Key] = tag.Value?.ToString();
        if (instrument.IsObservable)
            _collecting?.Add((instrument.Name, copy, value));
        else
            _measurements.Enqueue((instrument.Name, copy, value));
    }

    private static IEnumerable<(string Instrument, Dictionary<string, string?> Tags, double Value)> Matching(
        IEnumerable<(string Instrument, Dictionary<string, string?> Tags, double Value)> measurements, string instrument, (string Key, string Value)[] tags) =>
        measurements.Where(m => m.Instrument == instrument && tags.All(t => m.Tags.TryGetValue(t.Key, out var v) && v == t.Value));

    public void Dispose() => _listener.Dispose();
}
