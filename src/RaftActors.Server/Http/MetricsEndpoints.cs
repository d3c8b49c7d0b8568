using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Prometheus;

namespace RaftActors.Server.Http;

/// <summary>
/// <c>GET /metrics</c>: the RaftActors meter (docs/metrics.md), ASP.NET Core's request and
/// connection meters and the runtime's (<see cref="ExportedMeters"/>), in Prometheus text format,
/// by prometheus-net's adapter for System.Diagnostics.Metrics. The adapter names a series after
/// its meter and instrument (<c>raft.node.term</c> of the RaftActors meter is
/// <c>raftactors_raft_node_term</c>) and turns tags into labels (<c>raft_node_id</c>).
/// </summary>
public static class MetricsEndpoints
{
    /// <summary>
    /// The meters exported. Not ASP.NET Core's memory pool meter (an update per buffer rented and
    /// returned) or its routing meter (one per route match): under load the adapter's work for those
    /// two took about 2% of a server's processor time, for figures nobody asked of a key-value store.
    /// </summary>
    public static readonly IReadOnlySet<string> ExportedMeters = new HashSet<string>(StringComparer.Ordinal)
    {
        RaftActors.Diagnostics.RaftMetrics.MeterName,
        "System.Runtime",
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
    };

    /// <summary>
    /// Starts counting, before the node starts: prometheus-net's own adapter would start at the
    /// first scrape and miss what was counted before it (the first election, the first writes).
    /// </summary>
    public static IDisposable StartExport()
    {
        Metrics.SuppressDefaultMetrics(new SuppressDefaultMetricOptions { SuppressMeters = true });
        var options = new MeterAdapterOptions
        {
            // The adapter forgets series that did not change for a while (5 minutes by default), to
            // bound high-cardinality meters. Raft's series are few (one a node, one a follower) and a
            // counter such as raft.elections.won may rightly stay still for hours: keep them as long
            // as the adapter allows (a day).
            MetricsExpireAfter = TimeSpan.FromDays(1),
            InstrumentFilterPredicate = instrument => ExportedMeters.Contains(instrument.Meter.Name),
        };

        // Histograms get the buckets their instrument advises (seconds, entries, bytes), else the adapter's.
        var defaults = options.ResolveHistogramBuckets;
        options.ResolveHistogramBuckets = instrument => AdvisedBuckets(instrument) ?? defaults(instrument);
        return MeterAdapter.StartListening(options);
    }

    public static void Map(IEndpointRouteBuilder app) => app.MapMetrics("/metrics");

    private static double[]? AdvisedBuckets(Instrument instrument) => instrument switch
    {
        Histogram<double> { Advice.HistogramBucketBoundaries: { } bounds } => bounds.ToArray(),
        Histogram<long> { Advice.HistogramBucketBoundaries: { } bounds } => bounds.Select(b => (double)b).ToArray(),
        _ => null,
    };
}
