using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Serialization;

namespace RaftActors.Tests.Serialization.Legacy;

/// <summary>
/// The Raft messages between peers exactly as the release before wire versions wrote and read them
/// (wire version 1), frozen: a copy of that release's RaftProtocolSerializer for RequestVote,
/// AppendEntries, InstallSnapshot, TimeoutNow and their replies. Registered in an ActorSystem in
/// place of the current serializer (<see cref="Install"/>), it makes that system's node speak as
/// a node of that release: it cannot write a <see cref="VersionedPeerMessage"/> or a
/// <see cref="WireVersionAnnouncement"/> (it throws, and Akka.Remote drops them), and drops what
/// arrives in them as an unknown manifest, and it refuses log entries with the session fields (time
/// stamp, session policy), which that release's LogEntryFormat did not know. The client and
/// membership messages, unchanged since, are left to the current serializer. Never edit the layouts below: they are the promise that
/// nodes of this release read what the previous one writes.
/// </summary>
public sealed class WireVersion1Serializer : SerializerWithStringManifest
{
    private const string RequestVoteManifest = "RV";
    private const string RequestVoteResultManifest = "RVR";
    private const string AppendEntriesManifest = "AE";
    private const string AppendEntriesResultManifest = "AER";
    private const string InstallSnapshotManifest = "IS";
    private const string InstallSnapshotResultManifest = "ISR";
    private const string TimeoutNowManifest = "TN";

    private static readonly HashSet<string> PeerManifests =
    [
        RequestVoteManifest, RequestVoteResultManifest, AppendEntriesManifest, AppendEntriesResultManifest,
        InstallSnapshotManifest, InstallSnapshotResultManifest, TimeoutNowManifest,
    ];

    private readonly RaftProtocolSerializer _unchanged;

    public WireVersion1Serializer(ExtendedActorSystem system)
        : base(system) =>
        _unchanged = new RaftProtocolSerializer(system);

    public override int Identifier => RaftProtocolSerializer.SerializerId;

    /// <summary>Makes <paramref name="system"/>'s Raft node speak wire version 1: call before the node starts.</summary>
    public static void Install(ActorSystem system)
    {
        RaftExtension.Get(system); // registers the current serializer first, which this one then replaces
        var serializer = new WireVersion1Serializer((ExtendedActorSystem)system);
        system.Serialization.AddSerializer(RaftProtocolSerializer.SerializerName, serializer);
        foreach (var type in RaftProtocolSerializer.BoundTypes)
            system.Serialization.AddSerializationMap(type, serializer);
    }

    public override string Manifest(object o) => o switch
    {
        VersionedPeerMessage or WireVersionAnnouncement => "",
        _ => _unchanged.Manifest(o),
    };

    public override byte[] ToBinary(object obj)
    {
        var w = new WireWriter();
        switch (obj)
        {
            case VersionedPeerMessage or WireVersionAnnouncement:
                throw new SerializationException($"wire version 1 has no {obj.GetType().Name}");
            case RequestVote m:
                w.Long(m.Term);
                w.String(m.CandidateId, "candidate id");
                w.Long(m.LastLogIndex);
                w.Long(m.LastLogTerm);
                w.Bool(m.PreVote);
                w.Bool(m.Transfer);
                break;
            case RequestVoteResult m:
                w.Long(m.Term);
                w.String(m.VoterId, "voter id");
                w.Bool(m.VoteGranted);
                w.Bool(m.PreVote);
                break;
            case AppendEntries m:
                w.Long(m.Term);
                w.String(m.LeaderId, "leader id");
                w.Long(m.PrevLogIndex);
                w.Long(m.PrevLogTerm);
                w.Long(m.LeaderCommit);
                w.Long(m.Sequence);
                w.Varint((ulong)m.Entries.Count);
                for (var i = 0; i < m.Entries.Count; i++)
                    w.Entry(m.Entries[i], i);
                break;
            case AppendEntriesResult m:
                w.Long(m.Term);
                w.String(m.FollowerId, "follower id");
                w.Bool(m.Success);
                w.Long(m.MatchIndex);
                w.Long(m.ConflictIndex);
                w.Long(m.ConflictTerm);
                w.Long(m.Sequence);
                break;
            case InstallSnapshot m:
                w.Long(m.Term);
                w.String(m.LeaderId, "leader id");
                w.Long(m.LastIncludedIndex);
                w.Long(m.LastIncludedTerm);
                w.Long(m.Offset);
                w.Bool(m.Done);
                w.Bytes(m.Data);
                w.Configuration(m.Configuration);
                break;
            case InstallSnapshotResult m:
                w.Long(m.Term);
                w.String(m.FollowerId, "follower id");
                w.Long(m.LastIncludedIndex);
                w.Long(m.LastIncludedTerm);
                w.Long(m.NextOffset);
                w.Bool(m.Done);
                break;
            case TimeoutNow m:
                w.Long(m.Term);
                w.String(m.LeaderId, "leader id");
                break;
            default:
                return _unchanged.ToBinary(obj);
        }

        return w.ToArray();
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (!PeerManifests.Contains(manifest))
        {
            return RaftProtocolSerializer.Manifests.Values.Contains(manifest)
                ? _unchanged.FromBinary(bytes, manifest)
                : throw new SerializationException(
                    $"RaftProtocolSerializer (id {RaftProtocolSerializer.SerializerId}) does not know the manifest '{manifest}' " +
                    "(a message from a newer or different version of RaftActors, or not a Raft message); it is dropped");
        }

        var r = new WireReader(bytes, manifest);
        object message = manifest switch
        {
            RequestVoteManifest => new RequestVote(
                r.Long("term"), r.RequiredString("candidate id"), r.Long("last log index"), r.Long("last log term"), r.Bool("pre-vote"), r.Bool("transfer")),
            RequestVoteResultManifest => new RequestVoteResult(r.Long("term"), r.RequiredString("voter id"), r.Bool("vote granted"), r.Bool("pre-vote")),
            AppendEntriesManifest => ReadAppendEntries(ref r),
            AppendEntriesResultManifest => new AppendEntriesResult(
                r.Long("term"), r.RequiredString("follower id"), r.Bool("success"), r.Long("match index"), r.Long("conflict index"),
                r.Long("conflict term"), r.Long("sequence")),
            InstallSnapshotManifest => ReadInstallSnapshot(ref r),
            InstallSnapshotResultManifest => new InstallSnapshotResult(
                r.Long("term"), r.RequiredString("follower id"), r.Long("last included index"), r.Long("last included term"), r.Long("next offset"),
                r.Bool("done")),
            _ => new TimeoutNow(r.Long("term"), r.RequiredString("leader id")),
        };
        r.End();
        return message;
    }

    private static InstallSnapshot ReadInstallSnapshot(ref WireReader r)
    {
        var term = r.Long("term");
        var leaderId = r.RequiredString("leader id");
        var lastIncludedIndex = r.Long("last included index");
        var lastIncludedTerm = r.Long("last included term");
        var offset = r.Long("offset");
        var done = r.Bool("done");
        var data = r.Bytes("data").ToArray();
        var configuration = r.Configuration("configuration");
        return new InstallSnapshot(term, leaderId, lastIncludedIndex, lastIncludedTerm, offset, data, done, configuration);
    }

    private static AppendEntries ReadAppendEntries(ref WireReader r)
    {
        var term = r.Long("term");
        var leaderId = r.RequiredString("leader id");
        var prevLogIndex = r.Long("prev log index");
        var prevLogTerm = r.Long("prev log term");
        var leaderCommit = r.Long("leader commit");
        var sequence = r.Long("sequence");
        var count = r.Count("entry count", minItemSize: 3);
        var entries = new List<LogEntry>(count);
        for (var i = 0; i < count; i++)
        {
            // That release's LogEntryFormat refused every flag after the first three.
            var entry = r.Entry(i);
            if (entry.Timestamp is not null || entry.SessionPolicy is not null)
                throw new SerializationException($"AppendEntries: entry {i}, index {entry.Index}: unknown flags (not a log entry, or a newer format)");
            entries.Add(entry);
        }

        return new AppendEntries(term, leaderId, prevLogIndex, prevLogTerm, entries, leaderCommit, sequence);
    }
}
