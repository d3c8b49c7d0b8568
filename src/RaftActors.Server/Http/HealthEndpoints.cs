using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using RaftActors.Messages;

namespace RaftActors.Server.Http;

/// <summary>
/// Probes for load balancers and orchestrators.
/// <list type="bullet">
/// <item><c>GET /health/live</c> -> 200 <c>{"live":true}</c> while the local Raft node answers, else 503.
/// A node whose storage failed still answers (it reports the failure): restarting the process
/// on a full disk would not help, so liveness leaves that to the operator.</item>
/// <item><c>GET /health/ready</c> -> 200 or 503 <c>{"ready","reason"}</c> by <see cref="RaftReadiness.Of"/>:
/// storage works, a leader is known, and every entry known committed is applied.</item>
/// </list>
/// </summary>
public static class HealthEndpoints
{
    private const string NoAnswer = "the local Raft node did not answer";

    public static void Map(IEndpointRouteBuilder app, RaftGateway gateway)
    {
        app.MapGet("/health/live", async (HttpContext http) =>
            await gateway.StatusAsync(http.RequestAborted) is null
                ? KvEndpoints.Error(StatusCodes.Status503ServiceUnavailable, NoAnswer)
                : Results.Json(new { live = true }));

        app.MapGet("/health/ready", async (HttpContext http) =>
        {
            var status = await gateway.StatusAsync(http.RequestAborted);
            var readiness = status is null ? new RaftReadiness(false, NoAnswer) : RaftReadiness.Of(status);
            return Results.Json(
                new { ready = readiness.IsReady, reason = readiness.Reason },
                statusCode: readiness.IsReady ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        });
    }
}
