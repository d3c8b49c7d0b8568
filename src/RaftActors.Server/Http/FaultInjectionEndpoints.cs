using System.Text.Json;
using Akka.Actor;
using Akka.Configuration;
using Akka.Remote;
using Akka.Remote.Transport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using RaftActors.Configuration;
using RaftActors.Server.Hosting;

namespace RaftActors.Server.Http;

/// <summary>
/// Network partitions for tests, off unless <c>raft.server.fault-injection = on</c>:
/// <list type="bullet">
/// <item><c>POST /admin/partition</c> <c>{"cut": ["n2", "n3"]}</c> -> 200 <c>{"cut"}</c>: this node
/// stops hearing from, and talking to, those members (until healed)</item>
/// <item><c>POST /admin/heal</c> -> 200 <c>{"healed"}</c>: traffic with every member flows again</item>
/// </list>
/// A cut is Akka.Remote's throttler set to <see cref="Blackhole"/> for the member's address, both
/// directions, on this node's side: messages are dropped silently, as on a dead link, while
/// connections stay up. The throttler is a transport adapter, so the setting needs
/// <c>akka.remote.dot-netty.tcp.applied-adapters = [trttl]</c>, and members are then reached at
/// <c>akka.trttl.tcp://</c> addresses.
/// </summary>
public static class FaultInjectionEndpoints
{
    public const string Setting = "raft.server.fault-injection";

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Whether fault injection is on; a bad or unusable setting fails naming <see cref="Setting"/>.</summary>
    public static bool Enabled(Config config)
    {
        var enabled = HoconReader.Read(config, Setting, c => c.GetBoolean(Setting));

        if (enabled && !config.GetStringList("akka.remote.dot-netty.tcp.applied-adapters").Contains(ThrottleTransportAdapter.Scheme))
        {
            throw new RaftConfigurationException(Setting,
                $"needs Akka.Remote's throttler: akka.remote.dot-netty.tcp.applied-adapters = [{ThrottleTransportAdapter.Scheme}] (and members at akka.{ThrottleTransportAdapter.Scheme}.tcp:// addresses)");
        }

        return enabled;
    }

    public static void Map(IEndpointRouteBuilder app, ActorSystem system, RaftMembership membership, ServerOutput output)
    {
        var transport = ((RemoteActorRefProvider)((ExtendedActorSystem)system).Provider).Transport;
        if (membership.Discovery != RaftDiscovery.Static)
            throw new RaftConfigurationException(Setting, "needs a static member list (raft.discovery = static): it cuts members off by their configured addresses");
        var peers = membership.Peers.ToDictionary(p => p.Id, p => p.Path!.Address); // static members always have a path
        output.Say($"fault injection is on ({Setting}): POST /admin/partition and /admin/heal cut this node off from members");

        app.MapPost("/admin/partition", async (HttpContext http) =>
        {
            var (ids, problem) = await ReadCutAsync(http.Request, peers.Keys);
            if (problem is not null)
                return Results.Json(new { error = problem }, statusCode: StatusCodes.Status400BadRequest);
            var failed = await SetAsync(transport, ids!.Select(id => peers[id]), Blackhole.Instance);
            output.Say($"fault injection: cut off from {string.Join(", ", ids!)}");
            return failed ?? Results.Json(new { cut = ids });
        });

        app.MapPost("/admin/heal", async () =>
        {
            var failed = await SetAsync(transport, peers.Values, Unthrottled.Instance);
            output.Say("fault injection: healed");
            return failed ?? Results.Json(new { healed = peers.Keys });
        });
    }

    /// <summary>Throttles every address; null when all took it, else the error to answer.</summary>
    private static async Task<IResult?> SetAsync(RemoteTransport transport, IEnumerable<Address> addresses, ThrottleMode mode)
    {
        var results = await Task.WhenAll(addresses.Select(async address =>
        {
            try
            {
                return await transport.ManagementCommand(new SetThrottle(address, ThrottleTransportAdapter.Direction.Both, mode)).WaitAsync(CommandTimeout);
            }
            catch (Exception e) when (e is TimeoutException or AskTimeoutException or TaskCanceledException)
            {
                return false;
            }
        }));
        return results.All(ok => ok)
            ? null
            : Results.Json(new { error = $"the throttler did not take {mode.GetType().Name} for every member within {CommandTimeout.TotalSeconds:F0} s" },
                statusCode: StatusCodes.Status500InternalServerError);
    }

    /// <summary>The body <c>{"cut": ["n2", ...]}</c>: member ids other than this node's.</summary>
    private static async Task<(List<string>? Ids, string? Problem)> ReadCutAsync(HttpRequest request, IEnumerable<string> peerIds)
    {
        var peers = peerIds.ToHashSet();
        const string shape = "the body must be {\"cut\": [member ids other than this node's]}";
        try
        {
            using var document = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
            if (document.RootElement.ValueKind != JsonValueKind.Object ||
                !document.RootElement.TryGetProperty("cut", out var cut) || cut.ValueKind != JsonValueKind.Array)
                return (null, shape);
            var ids = cut.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : "").ToList();
            var unknown = ids.Where(id => !peers.Contains(id)).ToList();
            return unknown.Count > 0 ? (null, $"{shape}; not a peer: {string.Join(", ", unknown.Select(u => $"'{u}'"))}") : (ids, null);
        }
        catch (JsonException e)
        {
            return (null, $"{shape}: {e.Message}");
        }
    }
}
