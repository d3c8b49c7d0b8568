using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using RaftActors.Client;
using RaftActors.Messages;
using RaftActors.Server.KeyValue;

namespace RaftActors.Server.Http;

/// <summary>
/// The key-value HTTP API, JSON on every node; any node takes any request (membership and
/// leadership: <see cref="MembershipEndpoints"/>).
/// <list type="bullet">
/// <item><c>GET /status</c> -> <c>{"id","role","term","leader","commitIndex","lastApplied","lastLogIndex","votedFor","snapshotIndex","snapshotTerm","voter","storageFailure"}</c></item>
/// <item><c>PUT /kv/{key}</c>, the value as the raw body -> 200 <c>{"index"}</c> once committed and applied</item>
/// <item><c>GET /kv/{key}</c> -> 200 <c>{"key","value"}</c> or 404; linearizable, or <c>?stale=true</c> from the local state machine</item>
/// <item><c>DELETE /kv/{key}</c> -> 200 <c>{"index","existed"}</c></item>
/// <item><c>POST /kv/{key}/cas</c> <c>{"expected","value"}</c> -> 200 <c>{"ok":true}</c> or 409 <c>{"ok":false,"current"}</c></item>
/// </list>
/// 503 when the request was certainly not applied, 504 when its outcome is unknown, 400 when it
/// is malformed. An <c>Idempotency-Key</c> header makes a write a client session of its own
/// (<c>http:{key}</c>, sequence 1): a retry with the same key applies at most once and answers
/// what the first one did, for as long as the cluster keeps the session (<c>raft.sessions.expiry</c>
/// after its last use). <c>Request-Id</c>, the header's former name, is still read (deprecated).
/// A write without the header gets a session of its own too, so the server may resend it within
/// the request (after a leader change, say) without applying it twice. The gateway's
/// <see cref="RaftClient"/> does the resending; its failures map to the status codes here.
/// </summary>
public static class KvEndpoints
{
    /// <summary>The header's name in the IETF draft "The Idempotency-Key HTTP Header Field".</summary>
    public const string IdempotencyKeyHeader = "Idempotency-Key";

    /// <summary>
    /// The header's former name, read when <see cref="IdempotencyKeyHeader"/> is absent, with a
    /// warning: .NET's tracing middleware sends a Request-Id of its own on every request.
    /// </summary>
    public const string DeprecatedRequestIdHeader = "Request-Id";

    public const int MaxKeyLength = 1024;
    public const int MaxIdempotencyKeyLength = 200;

    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    /// <param name="warn">Where the deprecation warning for <see cref="DeprecatedRequestIdHeader"/> goes (once).</param>
    public static void Map(IEndpointRouteBuilder app, RaftGateway gateway, Func<KeyValueStore?> localStore, int maxValueBytes, Action<string> warn)
    {
        var warned = 0;
        var newSessions = new AutoSessionIds();
        string? Session(HttpRequest request)
        {
            var session = ReadSession(request, newSessions, out var deprecatedHeader);
            if (deprecatedHeader && Interlocked.Exchange(ref warned, 1) == 0)
            {
                warn($"a write came with the deprecated {DeprecatedRequestIdHeader} header; send {IdempotencyKeyHeader} instead " +
                     $"({DeprecatedRequestIdHeader} is read for one more release; this warning is logged once)");
            }

            return session;
        }

        app.MapGet("/status", async (HttpContext http) =>
        {
            var status = await gateway.StatusAsync(http.RequestAborted);
            if (status is null)
                return Error(StatusCodes.Status503ServiceUnavailable, "the local Raft node did not answer");
            return Results.Json(new
            {
                id = status.NodeId,
                role = status.Role.ToString(),
                term = status.Term,
                leader = status.LeaderId,
                commitIndex = status.CommitIndex,
                lastApplied = status.LastApplied,
                lastLogIndex = status.LastLogIndex,
                votedFor = status.VotedFor,
                snapshotIndex = status.SnapshotIndex,
                snapshotTerm = status.SnapshotTerm,
                voter = status.IsVoter,
                storageFailure = status.StorageFailure,
            });
        });

        app.MapGet("/kv/{key}", async (string key, HttpContext http) =>
        {
            key = DecodeSlashes(key);
            if (CheckKey(key) is { } bad)
                return bad;
            var stale = http.Request.Query["stale"];
            if (stale.Count > 1 || (stale.Count == 1 && !bool.TryParse(stale[0], out _)))
                return Error(StatusCodes.Status400BadRequest, $"stale must be true or false, got '{stale}'");
            if (stale.Count == 1 && bool.Parse(stale[0]!))
            {
                var store = localStore();
                if (store is null)
                    return Error(StatusCodes.Status503ServiceUnavailable, "the local state machine is not running");
                var local = store.ReadLocal(key);
                return local is null ? NotFound(key) : Results.Json(new { key, value = local });
            }

            try
            {
                return await gateway.Client.QueryAsync(new Get(key), http.RequestAborted) is GetResult { Value: { } value }
                    ? Results.Json(new { key, value })
                    : NotFound(key);
            }
            catch (RaftClientException failure)
            {
                return Failure(failure);
            }
        });

        app.MapPut("/kv/{key}", async (string key, HttpContext http) =>
        {
            key = DecodeSlashes(key);
            if (CheckKey(key) is { } bad)
                return bad;
            var (value, problem) = await ReadValueAsync(http.Request, maxValueBytes);
            if (problem is not null)
                return problem;
            if (Session(http.Request) is not { } session)
                return BadRequestId();
            return await WriteAsync(gateway, new Put(key, value!), session, http, applied => Results.Json(new { index = applied.Index }));
        });

        app.MapDelete("/kv/{key}", async (string key, HttpContext http) =>
        {
            key = DecodeSlashes(key);
            if (CheckKey(key) is { } bad)
                return bad;
            if (Session(http.Request) is not { } session)
                return BadRequestId();
            return await WriteAsync(gateway, new Delete(key), session, http,
                applied => Results.Json(new { index = applied.Index, existed = applied.Result is DeleteResult { Existed: true } }));
        });

        app.MapPost("/kv/{key}/cas", async (string key, HttpContext http) =>
        {
            key = DecodeSlashes(key);
            if (CheckKey(key) is { } bad)
                return bad;
            var (body, problem) = await ReadValueAsync(http.Request, maxValueBytes * 2 + 4096);
            if (problem is not null)
                return problem;
            var (value, expected, malformed) = ParseCas(body!);
            if (malformed is not null || value is null)
                return Error(StatusCodes.Status400BadRequest, malformed ?? "\"value\" must be a string");
            if (StrictUtf8.GetByteCount(value) > maxValueBytes)
                return Error(StatusCodes.Status400BadRequest, $"the value is larger than raft.server.max-value-size ({maxValueBytes} bytes)");
            if (Session(http.Request) is not { } session)
                return BadRequestId();
            return await WriteAsync(gateway, new Cas(key, expected, value), session, http, applied => applied.Result switch
            {
                CasResult { Ok: true } => Results.Json(new { ok = true, index = applied.Index }),
                CasResult { Ok: false } cas =>
                    Results.Json(new { ok = false, current = cas.Current, index = applied.Index }, statusCode: StatusCodes.Status409Conflict),
                _ => Error(StatusCodes.Status500InternalServerError, $"unexpected result {applied.Result}"),
            });
        });
    }

    /// <summary>Has <paramref name="command"/> applied as the only command of <paramref name="session"/>, and answers with <paramref name="done"/> or the failure's status.</summary>
    private static async Task<IResult> WriteAsync(RaftGateway gateway, object command, string session, HttpContext http, Func<CommandApplied, IResult> done)
    {
        CommandApplied applied;
        try
        {
            applied = await gateway.Client.SendIdempotentAsync(command, session, http.RequestAborted);
        }
        catch (RaftClientException failure)
        {
            return Failure(failure);
        }

        return done(applied);
    }

    /// <summary>The body of a CAS: <c>{"expected": string or null, "value": string}</c>, both required.</summary>
    public static (string? Value, string? Expected, string? Problem) ParseCas(string body)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException e)
        {
            return (null, null, $"the body is not JSON: {e.Message}");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                return (null, null, "the body must be a JSON object {\"expected\": string or null, \"value\": string}");
            if (!root.TryGetProperty("value", out var value) || value.ValueKind != JsonValueKind.String)
                return (null, null, "\"value\" must be a string");
            if (!root.TryGetProperty("expected", out var expected) || expected.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                return (null, null, "\"expected\" must be a string, or null for a key that must be absent");
            foreach (var property in root.EnumerateObject())
            {
                if (property.Name is not ("value" or "expected"))
                    return (null, null, $"unknown field \"{property.Name}\"");
            }

            return (value.GetString(), expected.ValueKind == JsonValueKind.Null ? null : expected.GetString(), null);
        }
    }

    /// <summary>
    /// A write's client session, whose first and only command it is: <c>http:{key}</c>, or a new
    /// <c>http-auto:</c> one without the header; null when the header is malformed. The deprecated
    /// header counts only when the new one is absent.
    /// </summary>
    private static string? ReadSession(HttpRequest request, AutoSessionIds newSessions, out bool deprecatedHeader)
    {
        var keys = request.Headers[IdempotencyKeyHeader];
        deprecatedHeader = keys.Count == 0 && request.Headers.ContainsKey(DeprecatedRequestIdHeader);
        if (deprecatedHeader)
            keys = request.Headers[DeprecatedRequestIdHeader];
        if (keys.Count == 0)
            return newSessions.Next(); // a session of its own: safe to resend within this request
        if (keys.Count > 1)
            return null;
        var key = keys[0];
        if (string.IsNullOrWhiteSpace(key) || key.Length > MaxIdempotencyKeyLength || key.Any(char.IsControl))
            return null;
        return "http:" + key;
    }

    /// <summary>
    /// Session ids for writes without a key, <c>http-auto:{random}:{n}</c>: a random part drawn once
    /// per server start, so no other server or earlier run of this one uses it, then a counter: a
    /// GUID per write would read the kernel's random source, a system call, on every request.
    /// </summary>
    private sealed class AutoSessionIds
    {
        private readonly string _prefix = $"http-auto:{Guid.NewGuid():N}:";
        private long _count;

        public string Next() => _prefix + Interlocked.Increment(ref _count);
    }

    private static IResult BadRequestId() =>
        Error(StatusCodes.Status400BadRequest, $"the {IdempotencyKeyHeader} header must be given once, 1 to {MaxIdempotencyKeyLength} printable characters");

    /// <summary>ASP.NET Core decodes a route value except for %2F; a key may hold a slash, sent as %2F.</summary>
    private static string DecodeSlashes(string key) => key.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);

    private static IResult? CheckKey(string key)
    {
        if (key.Length == 0 || key.Length > MaxKeyLength)
            return Error(StatusCodes.Status400BadRequest, $"a key has 1 to {MaxKeyLength} characters");
        if (key.Any(char.IsControl))
            return Error(StatusCodes.Status400BadRequest, "a key cannot contain control characters");
        return null;
    }

    /// <summary>
    /// The request's body as UTF-8 text, at most <paramref name="maxBytes"/>. Read from Kestrel's
    /// own buffers (the body pipe), which are pooled: a copy per request into a buffer of its own
    /// was the largest allocation of a write, and the garbage collector's zeroing of it showed in
    /// profiles.
    /// </summary>
    private static async Task<(string? Value, IResult? Problem)> ReadValueAsync(HttpRequest request, int maxBytes)
    {
        IResult TooLarge() => Error(StatusCodes.Status400BadRequest, $"the body is larger than {maxBytes} bytes (raft.server.max-value-size)");
        if (request.ContentLength > maxBytes)
            return (null, TooLarge());
        var body = request.BodyReader;
        while (true)
        {
            var read = await body.ReadAsync(request.HttpContext.RequestAborted);
            var buffer = read.Buffer;
            if (buffer.Length > maxBytes)
            {
                body.AdvanceTo(buffer.End);
                return (null, TooLarge());
            }

            if (!read.IsCompleted)
            {
                // Nothing consumed, everything seen: the next read returns this and more.
                body.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }

            try
            {
                return (StrictUtf8.GetString(buffer), null);
            }
            catch (DecoderFallbackException)
            {
                return (null, Error(StatusCodes.Status400BadRequest, "the body is not valid UTF-8"));
            }
            finally
            {
                body.AdvanceTo(buffer.End);
            }
        }
    }

    private static IResult NotFound(string key) => Results.Json(new { key, error = "not found" }, statusCode: StatusCodes.Status404NotFound);

    /// <summary>
    /// The status of a request the gateway's client gave up on: 504 when it may still be applied,
    /// 503 when it certainly was not (with Retry-After when the cluster's session table was full:
    /// every write of the gateway opens a session, and one frees up within raft.sessions.min-idle),
    /// 500 when the state machine failed on it.
    /// </summary>
    internal static IResult Failure(RaftClientException failure) => failure switch
    {
        RaftUnavailableException { TooManySessions: true } => new RetryAfter(Error(StatusCodes.Status503ServiceUnavailable, failure.Message), TooManySessionsRetryAfterSeconds),
        RaftCommandOutcomeUnknownException or RaftMembershipOutcomeUnknownException => Error(StatusCodes.Status504GatewayTimeout, failure.Message),
        RaftCommandFailedException failed => Results.Json(
            new { error = $"the state machine failed on entry {failed.Index}: {failed.Reason}", index = failed.Index },
            statusCode: StatusCodes.Status500InternalServerError),
        RaftRequestRejectedException rejected => Error(StatusCodes.Status503ServiceUnavailable, rejected.Reason),
        _ => Error(StatusCodes.Status503ServiceUnavailable, failure.Message),
    };

    internal static IResult Error(int status, string error) => Results.Json(new { error }, statusCode: status);

    /// <summary>The Retry-After of a write refused for a full session table, in seconds.</summary>
    internal const int TooManySessionsRetryAfterSeconds = 1;

    /// <summary>A result with a Retry-After header.</summary>
    private sealed class RetryAfter(IResult result, int seconds) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return result.ExecuteAsync(httpContext);
        }
    }
}
