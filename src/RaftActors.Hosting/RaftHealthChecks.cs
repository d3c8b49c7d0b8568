using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RaftActors.Messages;

namespace RaftActors.Hosting;

/// <summary>
/// Liveness: the node actor started by <see cref="RaftHostingExtensions.WithRaft{TStateMachine}(Akka.Hosting.AkkaConfigurationBuilder, Action{RaftOptions})"/>
/// is running (it answers its status). A node whose storage failed is still live; readiness says so.
/// </summary>
internal sealed class RaftLivenessCheck(TimeSpan answerWithin) : IAkkaHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(AkkaHealthCheckContext context, CancellationToken cancellationToken)
    {
        var status = await RaftStatusProbe.AskAsync(context, answerWithin, cancellationToken).ConfigureAwait(false);
        return status.Status is { } running
            ? HealthCheckResult.Healthy($"the Raft node {running.NodeId} is running ({running.Role}, term {running.Term})")
            : new HealthCheckResult(context.Registration?.FailureStatus ?? HealthStatus.Unhealthy, status.Problem);
    }
}

/// <summary>Readiness: the node's <see cref="RaftReadiness"/> (a leader known, storage working, every committed entry applied).</summary>
internal sealed class RaftReadinessCheck(TimeSpan answerWithin) : IAkkaHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(AkkaHealthCheckContext context, CancellationToken cancellationToken)
    {
        var status = await RaftStatusProbe.AskAsync(context, answerWithin, cancellationToken).ConfigureAwait(false);
        var failure = context.Registration?.FailureStatus ?? HealthStatus.Unhealthy;
        if (status.Status is not { } known)
            return new HealthCheckResult(failure, status.Problem);
        var readiness = RaftReadiness.Of(known);
        return readiness.IsReady ? HealthCheckResult.Healthy(readiness.Reason) : new HealthCheckResult(failure, readiness.Reason);
    }
}

internal static class RaftStatusProbe
{
    /// <summary>The node's status, or why there is none: not started (yet), stopped, or no answer in time.</summary>
    public static async Task<(RaftStatus? Status, string Problem)> AskAsync(
        AkkaHealthCheckContext context, TimeSpan answerWithin, CancellationToken cancellationToken)
    {
        if (!context.ActorRegistry.TryGet<RaftNodeKey>(out var node))
            return (null, "the Raft node has not started");
        try
        {
            return (await node.Ask<RaftStatus>(GetRaftStatus.Instance, answerWithin, cancellationToken).ConfigureAwait(false), "");
        }
        catch (AskTimeoutException)
        {
            return (null, $"the Raft node {node.Path} did not answer within {answerWithin.TotalMilliseconds} ms (stopped or stuck)");
        }
    }
}
