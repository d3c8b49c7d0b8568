using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using RaftActors.Linearizability;

namespace RaftActors.IntegrationTests.Faults;

/// <summary>
/// Clients doing get, put and compare-and-set on a few keys through every node's HTTP API, each
/// through a node it picks at random per request, recording what they see in a
/// <see cref="HistoryRecorder"/>: an answer completes the operation; a 503, or a connection
/// refused before the request went out, means it certainly did nothing (left out); a 504, a
/// timeout or a connection lost mid-request leaves its outcome unknown (the client then goes on
/// as a new process). Now and then a client writes a fresh key of its own, which nothing
/// overwrites: every one acknowledged must be readable at the end.
/// </summary>
internal sealed class KvWorkload(TestCluster cluster, FaultRunOptions options, HistoryRecorder recorder)
{
    /// <summary>Longer than the servers' request timeout (2 s), so a server's 504 comes first; only a frozen or lost server times out.</summary>
    private static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(4);

    private int _nextProcess;

    public ConcurrentDictionary<string, string> AcknowledgedFreshWrites { get; } = new();

    /// <summary>Answers no correct server gives (a 400, a 500): each one fails the run.</summary>
    public ConcurrentQueue<string> Unexpected { get; } = new();

    public IEnumerable<string> Registers => Enumerable.Range(0, options.Keys).Select(k => $"r{k}");

    /// <summary>Per node: operations answered, of unknown outcome, and certainly not done.</summary>
    public ConcurrentDictionary<int, (int Answered, int Unknown, int NotDone)> ByNode { get; } = new();

    /// <summary>One line: how each node fared.</summary>
    public string ByNodeSummary => string.Join("; ", ByNode.OrderBy(n => n.Key).Select(n =>
        $"{cluster.Servers[n.Key].Id} {n.Value.Answered}/{n.Value.Unknown}/{n.Value.NotDone}"));

    public Task RunAsync(CancellationToken stop) =>
        Task.WhenAll(Enumerable.Range(0, options.Clients).Select(client => Task.Run(() => ClientAsync(client, stop))));

    private async Task ClientAsync(int client, CancellationToken stop)
    {
        var random = new Random(HashCode.Combine(options.Seed, client));
        var process = Interlocked.Increment(ref _nextProcess);
        var lastSeen = new Dictionary<string, string?>();
        for (var n = 0; !stop.IsCancellationRequested; n++)
        {
            var node = random.Next(cluster.Size);
            var value = $"c{client}.{n}";
            var roll = random.Next(20);
            Outcome outcome;
            if (roll < 2)
            {
                var key = $"fresh/c{client}/{n}";
                outcome = await PutAsync(process, node, key, value);
                if (outcome.Answered)
                    AcknowledgedFreshWrites[key] = value;
            }
            else
            {
                var key = $"r{random.Next(options.Keys)}";
                outcome = roll switch
                {
                    < 10 => await GetAsync(process, node, key),
                    < 15 => await PutAsync(process, node, key, value),
                    _ => await CasAsync(process, node, key, lastSeen.GetValueOrDefault(key), value),
                };
                if (outcome.Answered)
                    lastSeen[key] = outcome.Seen;
            }

            if (outcome.Unknown)
                process = Interlocked.Increment(ref _nextProcess); // the last operation stays open; go on as a new process
            await Task.Delay(random.Next(15), CancellationToken.None);
        }
    }

    /// <summary>A linearizable read, retried (each try recorded) until it is answered or <paramref name="within"/> runs out.</summary>
    public async Task<Outcome> ReadUntilAnsweredAsync(int node, string key, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            var outcome = await GetAsync(Interlocked.Increment(ref _nextProcess), node, key);
            if (outcome.Answered || DateTime.UtcNow > deadline)
                return outcome;
            await Task.Delay(100);
        }
    }

    private Task<Outcome> GetAsync(int process, int node, string key) =>
        RecordAsync(process, node, KvOperationKind.Get, key, null, null,
            cancel => cluster.SendAsync(node, HttpMethod.Get, Path(key) + (options.StaleReads ? "?stale=true" : ""), null, null, cancel),
            reply => reply.Status switch
            {
                200 => new KvOutput(true, reply.Json.GetProperty("value").GetString()),
                404 => new KvOutput(true, null),
                _ => null,
            });

    private Task<Outcome> PutAsync(int process, int node, string key, string value) =>
        RecordAsync(process, node, KvOperationKind.Put, key, value, null,
            cancel => cluster.SendAsync(node, HttpMethod.Put, Path(key), new StringContent(value, Encoding.UTF8, "text/plain"), NewIdempotencyKey(), cancel),
            reply => reply.Status == 200 ? new KvOutput(true, null) : null);

    private Task<Outcome> CasAsync(int process, int node, string key, string? expected, string value) =>
        RecordAsync(process, node, KvOperationKind.CompareAndSet, key, value, expected,
            cancel => cluster.SendAsync(node, HttpMethod.Post, Path(key) + "/cas",
                new StringContent(JsonSerializer.Serialize(new { expected, value }), Encoding.UTF8, "application/json"), NewIdempotencyKey(), cancel),
            reply => reply.Status switch
            {
                200 => new KvOutput(true, null),
                409 => new KvOutput(false, reply.Json.GetProperty("current").GetString()),
                _ => null,
            });

    /// <summary>Records one operation from its call to what its answer (or the lack of one) says.</summary>
    private async Task<Outcome> RecordAsync(
        int process, int node, KvOperationKind kind, string key, string? value, string? expected,
        Func<CancellationToken, Task<Reply>> send, Func<Reply, KvOutput?> read)
    {
        var outcome = await RecordOutcomeAsync(process, node, kind, key, value, expected, send, read);
        ByNode.AddOrUpdate(node, _ => Count(default, outcome), (_, counts) => Count(counts, outcome));
        return outcome;

        static (int, int, int) Count((int Answered, int Unknown, int NotDone) c, Outcome o) =>
            (c.Answered + (o.Answered ? 1 : 0), c.Unknown + (o.Unknown ? 1 : 0), c.NotDone + (o.Answered || o.Unknown ? 0 : 1));
    }

    private async Task<Outcome> RecordOutcomeAsync(
        int process, int node, KvOperationKind kind, string key, string? value, string? expected,
        Func<CancellationToken, Task<Reply>> send, Func<Reply, KvOutput?> read)
    {
        var handle = recorder.Invoke(process, kind, key, value, expected);
        Reply reply;
        try
        {
            using var timeout = new CancellationTokenSource(ClientTimeout);
            reply = await send(timeout.Token);
        }
        catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.ConnectionError)
        {
            recorder.Fail(handle); // no connection: the request never went out (the node is down)
            return Outcome.NotDone("connection refused");
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            // Sent, and then nothing (a frozen node) or a broken connection (a killed one).
            return Unknown(handle, kind, e is OperationCanceledException ? $"no answer within {ClientTimeout.TotalSeconds:F0} s" : e.Message);
        }

        if (read(reply) is { } output)
        {
            recorder.Complete(handle, output);
            return new Outcome(true, false, kind == KvOperationKind.Get || !output.Ok ? output.Value : value, reply.ToString());
        }

        switch (reply.Status)
        {
            case 503:
                recorder.Fail(handle); // certainly not applied
                return Outcome.NotDone(reply.ToString());
            case 504:
                return Unknown(handle, kind, reply.ToString());
            default:
                Unexpected.Enqueue($"{kind} {key} through {cluster.Servers[node].Id}: {reply}");
                return Unknown(handle, kind, reply.ToString());
        }
    }

    /// <summary>A write whose outcome is unknown stays open; a read without an answer did nothing.</summary>
    private Outcome Unknown(int handle, KvOperationKind kind, string why)
    {
        if (kind == KvOperationKind.Get)
        {
            recorder.Fail(handle);
            return Outcome.NotDone(why);
        }

        recorder.Unknown(handle);
        return new Outcome(false, true, null, why);
    }

    private static string Path(string key) => $"/kv/{Uri.EscapeDataString(key)}";

    private static string NewIdempotencyKey() => Guid.NewGuid().ToString("N");

    /// <param name="Answered">The operation completed (and is in the history as such).</param>
    /// <param name="Unknown">Its outcome is unknown.</param>
    /// <param name="Seen">What the client now believes the key holds (what it read, wrote, or was told).</param>
    /// <param name="Answer">What the server said, or why there was no answer.</param>
    public sealed record Outcome(bool Answered, bool Unknown, string? Seen, string Answer)
    {
        public static Outcome NotDone(string why) => new(false, false, null, why);
    }
}
