using System.Text;
using Akka.Actor.Setup;
using Akka.Hosting;
using Akka.Hosting.Coordination;

namespace RaftActors.Coordination;

/// <summary>
/// <see cref="RaftLease"/> for Akka.Hosting: writes <c>akka.coordination.lease.raft</c>, and is
/// what Akka.Cluster.Hosting's options take as a lease implementation (Split Brain Resolver's
/// lease-majority, Cluster Singleton's and Sharding's lease). Unset timeouts keep the values of
/// <c>akka.coordination.lease</c>.
/// </summary>
public sealed class RaftLeaseOption : LeaseOptionBase
{
    /// <summary>The HOCON path of the lease's section.</summary>
    public const string Path = "akka.coordination.lease.raft";

    /// <summary>The Raft cluster that runs <see cref="LeaseStateMachine"/>: each member's id and Akka address, as its nodes' <c>raft.members</c> list them.</summary>
    public IDictionary<string, string> Members { get; set; } = new Dictionary<string, string>();

    /// <summary>The Raft node actor's name under /user on each member (<c>raft.actor-name</c>); null for the default, "raft".</summary>
    public string? ActorName { get; set; }

    /// <summary>How long the cluster holds a lease for an owner that stopped renewing it.</summary>
    public TimeSpan? HeartbeatTimeout { get; set; }

    /// <summary>How often the holder renews; under half of <see cref="HeartbeatTimeout"/>.</summary>
    public TimeSpan? HeartbeatInterval { get; set; }

    /// <summary>How long an acquire or release may take before its outcome is unknown.</summary>
    public TimeSpan? LeaseOperationTimeout { get; set; }

    public override string ConfigPath => Path;

    public override Type Class => typeof(RaftLease);

    public override void Apply(AkkaConfigurationBuilder builder, Setup? setup = null) =>
        builder.AddHocon(ToHocon(), HoconAddMode.Prepend);

    /// <summary>The section as HOCON.</summary>
    internal string ToHocon()
    {
        if (Members.Count == 0)
            throw new ArgumentException("a Raft lease needs the Raft cluster's members", nameof(Members));
        var hocon = new StringBuilder();
        hocon.AppendLine($"{Path} {{");
        hocon.AppendLine($"  lease-class = {$"{typeof(RaftLease).FullName}, {typeof(RaftLease).Assembly.GetName().Name}".ToHocon()}");
        if (HeartbeatTimeout is { } timeout)
            hocon.AppendLine($"  heartbeat-timeout = {timeout.ToHocon()}");
        if (HeartbeatInterval is { } interval)
            hocon.AppendLine($"  heartbeat-interval = {interval.ToHocon()}");
        if (LeaseOperationTimeout is { } operation)
            hocon.AppendLine($"  lease-operation-timeout = {operation.ToHocon()}");
        if (ActorName is { } actorName)
            hocon.AppendLine($"  raft.actor-name = {actorName.ToHocon()}");
        hocon.AppendLine($"  raft.members = [{string.Join(", ", Members.Select(m => $"{{ id = {m.Key.ToHocon()}, address = {m.Value.ToHocon()} }}"))}]");
        hocon.AppendLine("}");
        return hocon.ToString();
    }
}
