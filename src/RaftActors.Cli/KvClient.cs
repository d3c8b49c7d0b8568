using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace RaftActors.Cli;

/// <summary>An answer of the HTTP API: the node that gave it, the status code and the JSON body.</summary>
public sealed record ApiReply(NodeEndpoint Node, int Status, JsonElement Body)
{
    public string? Error => Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty("error", out var e) ? e.GetString() : null;
}

/// <summary>What GET /status says, or why a node did not say it.</summary>
public sealed record NodeStatus(
    NodeEndpoint Node, string? Id, string? Role, long Term, string? Leader, long CommitIndex, long LastApplied, long LastLogIndex, string? Problem)
{
    public bool Up => Problem is null;

    public string Name => Id ?? Node.Name;
}

/// <summary>What GET /metrics gave (Prometheus text), or why a node did not give it.</summary>
public sealed record NodeScrape(NodeEndpoint Node, string? Text, string? Problem);

/// <summary>
/// Talks to the cluster's HTTP API. A node's gateway finds the leader and retries what is safe
/// within its request timeout (its <c>RaftClient</c>: the one retry layer), so this client only
/// looks for a node that serves: it asks the nodes once each, in turn, and moves on when one is
/// unreachable, answers 503 (certainly not applied) or 504 (outcome unknown). Every write carries
/// an Idempotency-Key (given, or a new one), so sending it to the next node is safe: the servers
/// apply one key at most once.
/// </summary>
public sealed class KvClient(IReadOnlyList<NodeEndpoint> nodes, TimeSpan timeout) : IDisposable
{
    private static readonly TimeSpan StatusTimeout = TimeSpan.FromSeconds(2);
    private readonly HttpClient _http = new() { Timeout = Timeout.InfiniteTimeSpan };

    public IReadOnlyList<NodeEndpoint> Nodes => nodes;

    /// <summary>
    /// Sends the request to the nodes in turn, starting at <paramref name="first"/>, each once,
    /// until one gives a final answer (anything but 503, 504 or no answer) or <c>--timeout</c>
    /// passes. It neither pauses nor comes back to a node: the node's gateway has already waited
    /// for a leader and retried for as long as its request timeout allows. With
    /// <paramref name="download"/>, a 200's body is not read as JSON but handed to it as it streams in.
    /// </summary>
    public async Task<ApiReply> SendAsync(
        HttpMethod method, string path, Func<HttpContent?> content, string? idempotencyKey, int first, CancellationToken cancel, bool resendAfterUnknown = true,
        Func<HttpResponseMessage, CancellationToken, Task>? download = null)
    {
        var clock = Stopwatch.StartNew();
        var problems = new List<string>();
        var unknown = false;
        ApiReply? last = null;
        for (var attempt = 0; attempt < nodes.Count && clock.Elapsed < timeout; attempt++)
        {
            var node = nodes[(first + attempt) % nodes.Count];
            using var request = new HttpRequestMessage(method, new Uri(node.Url, path)) { Content = content() };
            if (idempotencyKey is not null)
                request.Headers.Add("Idempotency-Key", idempotencyKey);
            using var attemptTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            attemptTimeout.CancelAfter(timeout - clock.Elapsed);
            try
            {
                using var response = await _http.SendAsync(
                    request, download is null ? HttpCompletionOption.ResponseContentRead : HttpCompletionOption.ResponseHeadersRead, attemptTimeout.Token);
                if (download is not null && response.StatusCode == HttpStatusCode.OK)
                {
                    await download(response, attemptTimeout.Token);
                    return new ApiReply(node, 200, default);
                }

                var body = await ReadJsonAsync(response, attemptTimeout.Token);
                last = new ApiReply(node, (int)response.StatusCode, body);
                switch (response.StatusCode)
                {
                    case HttpStatusCode.ServiceUnavailable:
                        problems.Add($"{node.Name}: 503 {last.Error}");
                        continue;
                    case HttpStatusCode.GatewayTimeout when resendAfterUnknown:
                        unknown = true;
                        problems.Add($"{node.Name}: 504 {last.Error}");
                        continue;
                    case HttpStatusCode.GatewayTimeout:
                        throw new CliException($"the outcome is unknown: {node.Name} answered 504 {last.Error}", ExitCodes.Unknown);
                    default:
                        return last;
                }
            }
            catch (HttpRequestException e)
            {
                // Refused or reset: a write may have reached the node only if the connection broke mid-request.
                unknown |= idempotencyKey is not null && e.HttpRequestError is not HttpRequestError.ConnectionError;
                problems.Add($"{node.Name}: {e.Message}");
            }
            catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
            {
                unknown |= idempotencyKey is not null;
                problems.Add($"{node.Name}: no answer in time");
            }
        }

        var summary = string.Join("; ", problems.Distinct().TakeLast(6));
        if (unknown)
            throw new CliException($"the outcome is unknown ({summary}); run again with --idempotency-key {idempotencyKey} to apply it at most once", ExitCodes.Unknown);
        throw new CliException($"no node could take the request within {timeout.TotalSeconds:F0} s; nothing was applied ({summary})", ExitCodes.Unavailable);
    }

    public async Task<IReadOnlyList<NodeStatus>> StatusAsync(CancellationToken cancel) =>
        await Task.WhenAll(nodes.Select(node => StatusAsync(node, cancel)));

    /// <summary>Every node's <c>GET /metrics</c> (Prometheus text), or why a node did not give it.</summary>
    public async Task<IReadOnlyList<NodeScrape>> MetricsAsync(CancellationToken cancel) =>
        await Task.WhenAll(nodes.Select(node => PollAsync(
            node,
            "/metrics",
            async (response, token) => response.StatusCode == HttpStatusCode.OK
                ? new NodeScrape(node, await response.Content.ReadAsStringAsync(token), null)
                : new NodeScrape(node, null, $"{(int)response.StatusCode} {response.ReasonPhrase}"),
            problem => new NodeScrape(node, null, problem),
            cancel)));

    private Task<NodeStatus> StatusAsync(NodeEndpoint node, CancellationToken cancel) => PollAsync(
        node,
        "/status",
        async (response, token) =>
        {
            var body = await ReadJsonAsync(response, token);
            if (response.StatusCode != HttpStatusCode.OK || body.ValueKind != JsonValueKind.Object)
                return Down(node, $"{(int)response.StatusCode} {(body.ValueKind == JsonValueKind.Object && body.TryGetProperty("error", out var e) ? e.GetString() : "")}".Trim());
            return new NodeStatus(
                node,
                body.GetProperty("id").GetString(),
                body.GetProperty("role").GetString(),
                body.GetProperty("term").GetInt64(),
                body.GetProperty("leader").GetString(),
                body.GetProperty("commitIndex").GetInt64(),
                body.GetProperty("lastApplied").GetInt64(),
                body.GetProperty("lastLogIndex").GetInt64(),
                null);
        },
        problem => Down(node, problem),
        cancel);

    /// <summary>One GET to one node, bounded by a short timeout: its answer read, or <paramref name="down"/> with why there was none.</summary>
    private async Task<T> PollAsync<T>(
        NodeEndpoint node, string path, Func<HttpResponseMessage, CancellationToken, Task<T>> read, Func<string, T> down, CancellationToken cancel)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        limit.CancelAfter(StatusTimeout);
        try
        {
            using var response = await _http.GetAsync(new Uri(node.Url, path), limit.Token);
            return await read(response, limit.Token);
        }
        catch (HttpRequestException e)
        {
            return down(e.HttpRequestError == HttpRequestError.ConnectionError ? "down (connection refused)" : e.Message);
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            return down($"no answer within {StatusTimeout.TotalSeconds:F0} s");
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return down($"not a RaftActors server: {e.Message}");
        }
    }

    private static NodeStatus Down(NodeEndpoint node, string problem) => new(node, node.Id, null, 0, null, 0, 0, 0, problem);

    private static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response, CancellationToken cancel)
    {
        var text = await response.Content.ReadAsStringAsync(cancel);
        if (text.Length == 0)
            return default;
        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return JsonSerializer.SerializeToElement(new { error = text });
        }
    }

    public void Dispose() => _http.Dispose();
}
