using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RaftActors.Cli;

/// <summary>Which HTTP API a benchmark speaks: RaftActors' key-value server, or etcd's JSON gateway (v3).</summary>
public enum BenchApi
{
    RaftActors,
    Etcd,
}

/// <summary>What a benchmark sends, how hard and for how long.</summary>
/// <param name="Operation">put or get.</param>
/// <param name="Connections">Keep-alive connections, each sending its next request when the last is answered.</param>
/// <param name="Duration">How long it measures, after the warm-up.</param>
/// <param name="Warmup">How long it loads the cluster before it measures.</param>
/// <param name="PayloadBytes">The size of each value written.</param>
/// <param name="Api">The HTTP API the servers speak.</param>
/// <param name="Keys">Distinct keys written or read, spread over the connections.</param>
/// <param name="Serializable">Reads: the node's local state (RaftActors' ?stale=true, etcd's serializable) instead of a linearizable read.</param>
public sealed record BenchOptions(
    string Operation, int Connections, TimeSpan Duration, TimeSpan Warmup, int PayloadBytes, int Keys, BenchApi Api, bool Serializable);

/// <summary>What a benchmark measured over its timed part (the warm-up is not counted).</summary>
public sealed record BenchResult(
    string Operation, BenchApi Api, int Connections, int PayloadBytes, double Seconds, long Requests, double RequestsPerSecond,
    double MeanMs, double P50Ms, double P99Ms, double P999Ms, double MaxMs, IReadOnlyDictionary<string, long> Statuses)
{
    /// <summary>Answers that were not a success: another status code, or no answer at all.</summary>
    public long Failures => Statuses.Where(s => s.Key != "200").Sum(s => s.Value);

    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true, Converters = { new JsonStringEnumConverter() } });
}

/// <summary>
/// A closed-loop HTTP load generator, like etcd's benchmark tool: each of N connections sends a
/// request, waits for its answer, and sends the next, for a fixed time after a warm-up. Each
/// connection has a handler of its own, so N connections are exactly N keep-alive TCP connections,
/// spread over the nodes in turn. Latencies are kept whole (one long per request) and sorted once
/// at the end, so the percentiles are exact.
/// </summary>
public static class Bench
{
    public static async Task<BenchResult> RunAsync(BenchOptions options, IReadOnlyList<NodeEndpoint> nodes, Action<string>? progress, CancellationToken cancel)
    {
        var value = new string('x', options.PayloadBytes);
        var workers = Enumerable.Range(0, options.Connections).Select(i => new Worker(i, nodes[i % nodes.Count].Url, options, value)).ToArray();
        try
        {
            if (options.Operation == "get")
            {
                // Every key a read asks for is written first, so reads find values of the payload's size.
                await Task.WhenAll(workers.Select(w => w.FillAsync(cancel)));
            }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            var clock = Stopwatch.StartNew();
            var warmupEnds = options.Warmup;
            var runs = workers.Select(w => w.RunAsync(clock, warmupEnds, stop.Token)).ToArray();
            var all = Task.WhenAll(runs);
            var ends = options.Warmup + options.Duration;
            while (!all.IsCompleted && clock.Elapsed < ends)
            {
                await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(1), cancel));
                if (progress is not null)
                {
                    var elapsed = clock.Elapsed;
                    var counted = workers.Sum(w => w.Count);
                    var timed = elapsed - warmupEnds;
                    progress(timed <= TimeSpan.Zero
                        ? $"warming up {elapsed.TotalSeconds,5:F1}s"
                        : $"{timed.TotalSeconds,5:F1}s  {counted,10:N0} requests  {counted / timed.TotalSeconds,10:N0}/s  {workers.Sum(w => w.FailureCount),6:N0} failed");
                }
            }

            stop.Cancel();
            await all;

            var latencies = workers.SelectMany(w => w.Latencies).ToArray();
            Array.Sort(latencies);
            var statuses = workers.SelectMany(w => w.Statuses)
                .GroupBy(s => s.Key).ToDictionary(g => g.Key, g => g.Sum(s => s.Value));
            var seconds = options.Duration.TotalSeconds;
            return new BenchResult(
                options.Operation, options.Api, options.Connections, options.PayloadBytes, seconds, latencies.Length, latencies.Length / seconds,
                latencies.Length == 0 ? 0 : latencies.Average() / TimeSpan.TicksPerMillisecond,
                Percentile(latencies, 0.50), Percentile(latencies, 0.99), Percentile(latencies, 0.999),
                latencies.Length == 0 ? 0 : (double)latencies[^1] / TimeSpan.TicksPerMillisecond,
                statuses);
        }
        finally
        {
            foreach (var worker in workers)
                worker.Dispose();
        }
    }

    /// <summary>The nearest-rank percentile of sorted latencies (ticks), in milliseconds.</summary>
    public static double Percentile(long[] sorted, double p)
    {
        if (sorted.Length == 0)
            return 0;
        var rank = (int)Math.Ceiling(p * sorted.Length);
        return (double)sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)] / TimeSpan.TicksPerMillisecond;
    }

    /// <summary>One connection: its own handler (so its own TCP connection), its keys, what it measured.</summary>
    private sealed class Worker(int id, Uri node, BenchOptions options, string value) : IDisposable
    {
        private readonly string _value = value;

        private readonly HttpClient _http = new(new SocketsHttpHandler { MaxConnectionsPerServer = 1, UseProxy = false })
        {
            BaseAddress = node,
            Timeout = TimeSpan.FromSeconds(30),
        };

        private readonly string[] _keys = Enumerable.Range(0, Math.Max(1, options.Keys / options.Connections))
            .Select(k => $"bench-{id}-{k}").ToArray();

        private long _count;
        private long _failures;

        public List<long> Latencies { get; } = new(1 << 14);

        public Dictionary<string, long> Statuses { get; } = new();

        public long Count => Interlocked.Read(ref _count);

        public long FailureCount => Interlocked.Read(ref _failures);

        public async Task FillAsync(CancellationToken cancel)
        {
            foreach (var key in _keys)
            {
                using var response = await _http.SendAsync(Put(key), cancel);
                if (response.StatusCode != HttpStatusCode.OK)
                    throw new CliException($"writing {key} before the reads: {node} answered {(int)response.StatusCode}", ExitCodes.Unavailable);
            }
        }

        public async Task RunAsync(Stopwatch clock, TimeSpan warmupEnds, CancellationToken stop)
        {
            var next = 0;
            while (!stop.IsCancellationRequested)
            {
                var key = _keys[next++ % _keys.Length];
                using var request = options.Operation == "put" ? Put(key) : Get(key);
                var started = clock.Elapsed;
                string status;
                try
                {
                    using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, stop);
                    status = ((int)response.StatusCode).ToString();
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return; // the run is over: a request cut short is not counted
                }
                catch (HttpRequestException)
                {
                    status = "no answer";
                }

                var latency = clock.Elapsed - started;
                if (started < warmupEnds)
                    continue;
                Latencies.Add(latency.Ticks);
                Statuses[status] = Statuses.GetValueOrDefault(status) + 1;
                Interlocked.Increment(ref _count);
                if (status != "200")
                    Interlocked.Increment(ref _failures);
            }
        }

        private HttpRequestMessage Put(string key) => options.Api == BenchApi.Etcd
            ? Json("/v3/kv/put", new { key = Base64(key), value = Base64(_value) })
            : new HttpRequestMessage(HttpMethod.Put, "/kv/" + key) { Content = new StringContent(_value, Encoding.UTF8, "text/plain") };

        private HttpRequestMessage Get(string key) => options.Api == BenchApi.Etcd
            ? Json("/v3/kv/range", new { key = Base64(key), serializable = options.Serializable })
            : new HttpRequestMessage(HttpMethod.Get, "/kv/" + key + (options.Serializable ? "?stale=true" : ""));

        private static HttpRequestMessage Json(string path, object body) =>
            new(HttpMethod.Post, path) { Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json") };

        private static string Base64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

        public void Dispose() => _http.Dispose();
    }
}
