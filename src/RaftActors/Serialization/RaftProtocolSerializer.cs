using System.Globalization;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.StateMachine;

namespace RaftActors.Serialization;

/// <summary>
/// The compact binary serializer of every message that crosses the network between Raft nodes
/// and between clients and nodes: the Raft RPCs and replies (RequestVote, AppendEntries,
/// InstallSnapshot), <see cref="ClientCommand"/>,
/// <see cref="ClientQuery"/> and every <see cref="IClientReply"/>.
/// </summary>
/// <remarks>
/// <para>Identifier <see cref="SerializerId"/> (9571, in the user range above Akka's reserved 0..100);
/// it is bound under the name <see cref="SerializerName"/> ("raft-protocol"). Nodes register it
/// themselves through <see cref="RaftExtension"/>; the same binding is in the embedded
/// reference.conf for applications that load it.</para>
/// <para>Each message is its fields in declaration order, no header, no type name: the manifest
/// (<see cref="Manifests"/>: "RV", "RVR", "AE", "AER", "IS", "ISR", "TN", "RI", "RIR", "CC", "CQ", "CA", "CF", "QR",
/// "NL", "RR", "COU", "SE", the membership messages "AM", "RM", "TL", "GC", "MC", "MF", "LT", "CFG",
/// and the backup's "ES", "SX")
/// says which message it is. Field encodings:</para>
/// <code>
/// long         varint of the two's-complement bits (LEB128, low group first; 0..127 take 1 byte)
/// bool         1 byte, 0 or 1
/// string       varint (UTF-8 byte count + 1), then the UTF-8 bytes; 0 alone is null
/// entries      varint count, then each entry in LogEntryFormat (self-delimiting)
/// payload      varint tag: 0 is null, else zigzag(serializerId) + 1; then the manifest (string)
///              and a varint byte count and the bytes, as Akka serialization made them
/// ActorPath    string: the path's serialization format with its address
/// config       varint byte count, then a configuration in LogEntryFormat's layout; 0 alone is null
/// </code>
/// <code>
/// RV   term, candidateId, lastLogIndex, lastLogTerm, preVote, transfer
/// RVR  term, voterId, voteGranted, preVote
/// AE   term, leaderId, prevLogIndex, prevLogTerm, leaderCommit, sequence, entries
/// AER  term, followerId, success, matchIndex, conflictIndex, conflictTerm, sequence
/// IS   term, leaderId, lastIncludedIndex, lastIncludedTerm, offset, done, data (varint length, bytes), configuration
/// TN   term, leaderId
/// RI   term, followerId, requestId                (wire version 4 on)
/// RIR  term, leaderId, requestId, readIndex       (wire version 4 on)
/// ISR  term, followerId, lastIncludedIndex, lastIncludedTerm, nextOffset, done
/// CC   command (payload), clientId, sequence
/// CQ   query (payload)
/// CA   index, result (payload)
/// CF   index, reason
/// QR   result (payload)
/// NL   leaderId, leaderPath
/// RR   reason
/// COU  reason
/// SE   index, reason
/// AM   id, address, promote
/// RM   id
/// TL   to
/// GC   (nothing)
/// MC   index, configuration
/// MF   reason (varint), message
/// LT   leaderId, term
/// CFG  nodeId, leaderId, configuration, index, committed
/// </code>
/// <para>That is wire version 1 (<see cref="WireVersions.Unversioned"/>), which every release reads.
/// From version 2 on, a message between peers in different processes may travel in a
/// <see cref="VersionedPeerMessage"/>, whose manifest names the version ("V2") and whose bytes are
/// the sender's highest version (varint), the message's own manifest (string), then its fields as
/// above; and a node makes its version known with a <see cref="WireVersionAnnouncement"/> ("WV":
/// node id, highest version, answer). The node, not this serializer, chooses the version to write:
/// the highest the recipient announced (<see cref="PeerWireVersions"/>). A manifest naming a version
/// above <see cref="WireVersions.Highest"/> raises <see cref="SerializationException"/> saying both
/// versions, and the message is dropped.</para>
/// <para>A payload (a user's command, query or result) is serialized by whatever Akka
/// serializer its type is bound to, and deserialized by the serializer its id names on the
/// receiving node. Malformed or truncated bytes, an unknown manifest, or a payload its
/// serializer refuses raise <see cref="SerializationException"/>: Akka.Remote logs and drops
/// the message and the node carries on.</para>
/// </remarks>
public sealed class RaftProtocolSerializer : SerializerWithStringManifest, IClientReplyFormat
{
    /// <summary>This serializer's identifier on the wire.</summary>
    public const int SerializerId = 9571;

    /// <summary>This serializer's name in <c>akka.actor.serializers</c>.</summary>
    public const string SerializerName = "raft-protocol";

    private const string RequestVoteManifest = "RV";
    private const string RequestVoteResultManifest = "RVR";
    private const string AppendEntriesManifest = "AE";
    private const string AppendEntriesResultManifest = "AER";
    private const string InstallSnapshotManifest = "IS";
    private const string InstallSnapshotResultManifest = "ISR";
    private const string ClientCommandManifest = "CC";
    private const string ClientQueryManifest = "CQ";
    private const string CommandAppliedManifest = "CA";
    private const string CommandFailedManifest = "CF";
    private const string QueryResultManifest = "QR";
    private const string NotLeaderManifest = "NL";
    private const string RequestRejectedManifest = "RR";
    private const string CommandOutcomeUnknownManifest = "COU";
    private const string SessionExpiredManifest = "SE";
    private const string TooManySessionsManifest = "TMS";
    private const string TimeoutNowManifest = "TN";
    private const string ReadIndexRequestManifest = "RI";
    private const string ReadIndexResultManifest = "RIR";
    private const string AddMemberManifest = "AM";
    private const string RemoveMemberManifest = "RM";
    private const string TransferLeadershipManifest = "TL";
    private const string GetClusterConfigurationManifest = "GC";
    private const string MembershipChangedManifest = "MC";
    private const string MembershipRefusedManifest = "MF";
    private const string LeadershipTransferredManifest = "LT";
    private const string CurrentConfigurationManifest = "CFG";
    private const string ExportSnapshotManifest = "ES";
    private const string SnapshotExportedManifest = "SX";
    private const string WireVersionAnnouncementManifest = "WV";

    /// <summary>Every message type this serializer handles, with its manifest.</summary>
    public static IReadOnlyDictionary<Type, string> Manifests { get; } = new Dictionary<Type, string>
    {
        [typeof(RequestVote)] = RequestVoteManifest,
        [typeof(RequestVoteResult)] = RequestVoteResultManifest,
        [typeof(AppendEntries)] = AppendEntriesManifest,
        [typeof(AppendEntriesResult)] = AppendEntriesResultManifest,
        [typeof(InstallSnapshot)] = InstallSnapshotManifest,
        [typeof(InstallSnapshotResult)] = InstallSnapshotResultManifest,
        [typeof(ClientCommand)] = ClientCommandManifest,
        [typeof(ClientQuery)] = ClientQueryManifest,
        [typeof(CommandApplied)] = CommandAppliedManifest,
        [typeof(CommandFailed)] = CommandFailedManifest,
        [typeof(QueryResult)] = QueryResultManifest,
        [typeof(NotLeader)] = NotLeaderManifest,
        [typeof(RequestRejected)] = RequestRejectedManifest,
        [typeof(CommandOutcomeUnknown)] = CommandOutcomeUnknownManifest,
        [typeof(SessionExpired)] = SessionExpiredManifest,
        [typeof(TooManySessions)] = TooManySessionsManifest,
        [typeof(TimeoutNow)] = TimeoutNowManifest,
        [typeof(ReadIndexRequest)] = ReadIndexRequestManifest,
        [typeof(ReadIndexResult)] = ReadIndexResultManifest,
        [typeof(AddMember)] = AddMemberManifest,
        [typeof(RemoveMember)] = RemoveMemberManifest,
        [typeof(TransferLeadership)] = TransferLeadershipManifest,
        [typeof(GetClusterConfiguration)] = GetClusterConfigurationManifest,
        [typeof(MembershipChanged)] = MembershipChangedManifest,
        [typeof(MembershipRefused)] = MembershipRefusedManifest,
        [typeof(LeadershipTransferred)] = LeadershipTransferredManifest,
        [typeof(CurrentConfiguration)] = CurrentConfigurationManifest,
        [typeof(ExportSnapshot)] = ExportSnapshotManifest,
        [typeof(SnapshotExported)] = SnapshotExportedManifest,
    };

    public RaftProtocolSerializer(ExtendedActorSystem system)
        : base(system)
    {
    }

    public override int Identifier => SerializerId;

    public override string Manifest(object o) => o switch
    {
        VersionedPeerMessage versioned => "V" + versioned.Version.ToString(CultureInfo.InvariantCulture),
        WireVersionAnnouncement => WireVersionAnnouncementManifest,
        not null when Manifests.TryGetValue(o.GetType(), out var manifest) => manifest,
        _ => throw new ArgumentException($"{nameof(RaftProtocolSerializer)} cannot serialize {o?.GetType().FullName ?? "null"}", nameof(o)),
    };

    /// <summary>
    /// Every type this serializer is bound to: those of <see cref="Manifests"/>, the
    /// <see cref="VersionedPeerMessage"/> envelope (manifest "V" and its version) and the
    /// <see cref="WireVersionAnnouncement"/> ("WV").
    /// </summary>
    public static IReadOnlyList<Type> BoundTypes { get; } =
        [.. Manifests.Keys, typeof(VersionedPeerMessage), typeof(WireVersionAnnouncement)];

    public override byte[] ToBinary(object obj)
    {
        var body = obj is VersionedPeerMessage versioned ? versioned.Message : obj;
        var w = new WireWriter(body switch
        {
            AppendEntries { Entries: { Count: > 0 } batch } => 64 + batch.Sum(e => e?.ApproximateSize ?? 0),
            InstallSnapshot { Data: { } data } => 64 + data.Length,
            _ => 64,
        });
        switch (obj)
        {
            case VersionedPeerMessage m:
                if (m.Version is < WireVersions.Announced or > WireVersions.Highest)
                    throw new ArgumentException(
                        $"{nameof(RaftProtocolSerializer)} writes peer messages in wire versions {WireVersions.Announced} to {WireVersions.Highest}, not {m.Version}", nameof(obj));
                w.Varint((ulong)m.SenderHighestVersion);
                w.String(Manifest(m.Message ?? throw new SerializationException("VersionedPeerMessage: the message is null")), "message manifest");
                WriteBody(w, m.Message);
                break;
            case WireVersionAnnouncement m:
                w.String(m.NodeId, "node id");
                w.Varint((ulong)m.HighestVersion);
                w.Bool(m.Answer);
                break;
            default:
                WriteBody(w, obj);
                break;
        }

        return w.ToArray();
    }

    /// <summary>The fields of a message, as every wire version so far lays them out.</summary>
    private void WriteBody(WireWriter w, object obj)
    {
        switch (obj)
        {
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
                var entries = m.Entries ?? throw new SerializationException("AppendEntries: the entries list is null");
                w.Varint((ulong)entries.Count);
                for (var i = 0; i < entries.Count; i++)
                    w.Entry(entries[i], i);
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
                w.Bytes(m.Data ?? throw new SerializationException("InstallSnapshot: the data is null"));
                w.Configuration(m.Configuration);
                break;
            case TimeoutNow m:
                w.Long(m.Term);
                w.String(m.LeaderId, "leader id");
                break;
            case ReadIndexRequest m:
                w.Long(m.Term);
                w.String(m.FollowerId, "follower id");
                w.Long(m.RequestId);
                break;
            case ReadIndexResult m:
                w.Long(m.Term);
                w.String(m.LeaderId, "leader id");
                w.Long(m.RequestId);
                w.Long(m.ReadIndex);
                break;
            case AddMember m:
                w.String(m.Id, "member id");
                w.String(m.Address, "member address");
                w.Bool(m.Promote);
                break;
            case RemoveMember m:
                w.String(m.Id, "member id");
                break;
            case TransferLeadership m:
                w.String(m.To, "target id");
                break;
            case GetClusterConfiguration:
                break;
            case MembershipChanged m:
                w.Long(m.Index);
                w.Configuration(m.Configuration ?? throw new SerializationException("MembershipChanged: the configuration is null"));
                break;
            case MembershipRefused m:
                w.Varint((ulong)m.Reason);
                w.String(m.Message, "message");
                break;
            case LeadershipTransferred m:
                w.String(m.LeaderId, "leader id");
                w.Long(m.Term);
                break;
            case CurrentConfiguration m:
                w.String(m.NodeId, "node id");
                w.String(m.LeaderId, "leader id");
                w.Configuration(m.Configuration ?? throw new SerializationException("CurrentConfiguration: the configuration is null"));
                w.Long(m.Index);
                w.Bool(m.Committed);
                break;
            case InstallSnapshotResult m:
                w.Long(m.Term);
                w.String(m.FollowerId, "follower id");
                w.Long(m.LastIncludedIndex);
                w.Long(m.LastIncludedTerm);
                w.Long(m.NextOffset);
                w.Bool(m.Done);
                break;
            case ClientCommand m:
                WritePayload(w, m.Command, "command");
                w.String(m.ClientId, "client id");
                w.Long(m.Sequence);
                break;
            case ClientQuery m:
                WritePayload(w, m.Query, "query");
                break;
            case CommandApplied m:
                w.Long(m.Index);
                WritePayload(w, m.Result, "result");
                break;
            case CommandFailed m:
                w.Long(m.Index);
                w.String(m.Reason, "reason");
                break;
            case QueryResult m:
                WritePayload(w, m.Result, "result");
                break;
            case NotLeader m:
                w.String(m.LeaderId, "leader id");
                w.String(m.LeaderPath is null ? null : SerializedPath(m.LeaderPath), "leader path");
                break;
            case RequestRejected m:
                w.String(m.Reason, "reason");
                break;
            case CommandOutcomeUnknown m:
                w.String(m.Reason, "reason");
                break;
            case SessionExpired m:
                w.Long(m.Index);
                w.String(m.Reason, "reason");
                break;
            case TooManySessions m:
                w.Long(m.Index);
                w.String(m.Reason, "reason");
                break;
            case ExportSnapshot m:
                w.String(m.Path, "path");
                break;
            case SnapshotExported m:
                w.String(m.Path, "path");
                w.Long(m.Position.Index);
                w.Long(m.Position.Term);
                w.Long(m.Size);
                break;
            default:
                throw new ArgumentException($"{nameof(RaftProtocolSerializer)} cannot serialize {obj?.GetType().FullName ?? "null"}", nameof(obj));
        }
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (bytes is null)
            throw new SerializationException($"{nameof(RaftProtocolSerializer)}: no bytes to deserialize (manifest '{manifest}')");
        if (manifest == WireVersionAnnouncementManifest)
            return ReadAnnouncement(bytes);
        if (VersionOf(manifest) is { } version)
            return ReadVersioned(bytes, version);
        var r = new WireReader(bytes, MessageName(manifest));
        var message = ReadBody(ref r, manifest);
        r.End();
        return message;
    }

    /// <summary>The wire version a manifest "V2", "V3", ... names; null for any other manifest.</summary>
    private static int? VersionOf(string manifest) =>
        manifest is ['V', _, ..] && int.TryParse(manifest.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var version) ? version : null;

    /// <summary>The message type each manifest of <see cref="Manifests"/> stands for, by name.</summary>
    private static readonly IReadOnlyDictionary<string, string> MessageNames = Manifests.ToDictionary(entry => entry.Value, entry => entry.Key.Name);

    private static string MessageName(string manifest) =>
        MessageNames.TryGetValue(manifest, out var name)
            ? name
            : throw new SerializationException(
                $"{nameof(RaftProtocolSerializer)} (id {SerializerId}) does not know the manifest '{manifest}' " +
                "(a message from a newer or different version of RaftActors, or not a Raft message); it is dropped");

    /// <summary>
    /// A <see cref="VersionedPeerMessage"/>: the sender's highest version, the message's manifest, then
    /// its fields. A version above this node's is not guessed at: it may lay anything out differently.
    /// </summary>
    private VersionedPeerMessage ReadVersioned(byte[] bytes, int version)
    {
        if (version > WireVersions.Highest)
            throw new SerializationException(
                $"{nameof(RaftProtocolSerializer)}: a peer wrote a message in wire version {version}, but this node reads wire versions " +
                $"{WireVersions.Unversioned} to {WireVersions.Highest}; the message is dropped (the peer runs a newer RaftActors and " +
                "takes this node for one too: upgrade this node, or restart the peer so that it learns this node's version again)");
        var header = new WireReader(bytes, $"a peer message in wire version {version}");
        if (version < WireVersions.Announced)
            throw header.Malformed($"the manifest 'V{version}' names no versioned format (versions {WireVersions.Announced} to {WireVersions.Highest} are)");
        var highest = header.Varint("sender's highest version");
        if (highest is < WireVersions.Unversioned or > int.MaxValue)
            throw header.Malformed($"the sender's highest version ({highest}) is out of range");
        var manifest = header.RequiredString("message manifest");
        var name = MessageName(manifest);
        var r = new WireReader(bytes.AsSpan(header.Position), $"{name} in wire version {version} (byte offsets after its {header.Position}-byte header)");
        var message = ReadBody(ref r, manifest) as IRaftProtocolMessage
                      ?? throw header.Malformed($"a {name} is not a message between Raft peers");
        r.End();
        return new VersionedPeerMessage(message, version, (int)highest);
    }

    /// <summary>
    /// A <see cref="WireVersionAnnouncement"/>. Bytes after its fields are left unread: it is how nodes of
    /// different versions first meet, so a later version may add fields but never move these.
    /// </summary>
    private static WireVersionAnnouncement ReadAnnouncement(byte[] bytes)
    {
        var r = new WireReader(bytes, nameof(WireVersionAnnouncement));
        var nodeId = r.RequiredString("node id");
        var highest = r.Varint("highest version");
        if (highest is < WireVersions.Unversioned or > int.MaxValue)
            throw r.Malformed($"the highest version ({highest}) is out of range");
        return new WireVersionAnnouncement(nodeId, (int)highest, r.Bool("answer"));
    }

    private object ReadBody(ref WireReader r, string manifest) =>
        manifest switch
        {
            RequestVoteManifest => new RequestVote(
                r.Long("term"), r.RequiredString("candidate id"), r.Long("last log index"), r.Long("last log term"), r.Bool("pre-vote"), r.Bool("transfer")),
            RequestVoteResultManifest => new RequestVoteResult(r.Long("term"), r.RequiredString("voter id"), r.Bool("vote granted"), r.Bool("pre-vote")),
            AppendEntriesManifest => ReadAppendEntries(ref r),
            AppendEntriesResultManifest => new AppendEntriesResult(
                r.Long("term"),
                r.RequiredString("follower id"),
                r.Bool("success"),
                r.Long("match index"),
                r.Long("conflict index"),
                r.Long("conflict term"),
                r.Long("sequence")),
            InstallSnapshotManifest => ReadInstallSnapshot(ref r),
            InstallSnapshotResultManifest => new InstallSnapshotResult(
                r.Long("term"),
                r.RequiredString("follower id"),
                r.Long("last included index"),
                r.Long("last included term"),
                NonNegative(ref r, "next offset"),
                r.Bool("done")),
            ClientCommandManifest => new ClientCommand(
                ReadPayload(ref r, "command") ?? throw r.Malformed("the command is null"),
                r.String("client id"),
                r.Long("sequence")),
            ClientQueryManifest => new ClientQuery(ReadPayload(ref r, "query") ?? throw r.Malformed("the query is null")),
            CommandAppliedManifest => new CommandApplied(r.Long("index"), ReadPayload(ref r, "result")),
            CommandFailedManifest => new CommandFailed(r.Long("index"), r.RequiredString("reason")),
            QueryResultManifest => new QueryResult(ReadPayload(ref r, "result")),
            NotLeaderManifest => new NotLeader(r.String("leader id"), ReadPath(ref r)),
            RequestRejectedManifest => new RequestRejected(r.RequiredString("reason")),
            CommandOutcomeUnknownManifest => new CommandOutcomeUnknown(r.RequiredString("reason")),
            SessionExpiredManifest => new SessionExpired(r.Long("index"), r.RequiredString("reason")),
            TooManySessionsManifest => new TooManySessions(r.Long("index"), r.RequiredString("reason")),
            TimeoutNowManifest => new TimeoutNow(r.Long("term"), r.RequiredString("leader id")),
            ReadIndexRequestManifest => new ReadIndexRequest(r.Long("term"), r.RequiredString("follower id"), r.Long("request id")),
            ReadIndexResultManifest => new ReadIndexResult(r.Long("term"), r.RequiredString("leader id"), r.Long("request id"), NonNegative(ref r, "read index")),
            AddMemberManifest => new AddMember(r.RequiredString("member id"), r.String("member address"), r.Bool("promote")),
            RemoveMemberManifest => new RemoveMember(r.RequiredString("member id")),
            TransferLeadershipManifest => new TransferLeadership(r.String("target id")),
            GetClusterConfigurationManifest => GetClusterConfiguration.Instance,
            MembershipChangedManifest => new MembershipChanged(r.Long("index"), RequiredConfiguration(ref r)),
            MembershipRefusedManifest => new MembershipRefused(RefusalReason(ref r), r.RequiredString("message")),
            LeadershipTransferredManifest => new LeadershipTransferred(r.RequiredString("leader id"), r.Long("term")),
            ExportSnapshotManifest => new ExportSnapshot(r.RequiredString("path")),
            SnapshotExportedManifest => new SnapshotExported(r.RequiredString("path"), new LogPosition(r.Long("index"), r.Long("term")), r.Long("size")),
            _ => new CurrentConfiguration(r.RequiredString("node id"), r.String("leader id"), RequiredConfiguration(ref r), r.Long("index"), r.Bool("committed")),
        };

    private static AppendEntries ReadAppendEntries(ref WireReader r)
    {
        var term = r.Long("term");
        var leaderId = r.RequiredString("leader id");
        var prevLogIndex = r.Long("prev log index");
        var prevLogTerm = r.Long("prev log term");
        var leaderCommit = r.Long("leader commit");
        var sequence = r.Long("sequence");
        var count = r.Count("entry count", minItemSize: 3); // the smallest entry: flags, index, term
        var entries = new List<LogEntry>(count);
        for (var i = 0; i < count; i++)
            entries.Add(r.Entry(i));
        return new AppendEntries(term, leaderId, prevLogIndex, prevLogTerm, entries, leaderCommit, sequence);
    }

    private static InstallSnapshot ReadInstallSnapshot(ref WireReader r)
    {
        var term = r.Long("term");
        var leaderId = r.RequiredString("leader id");
        var lastIncludedIndex = r.Long("last included index");
        var lastIncludedTerm = r.Long("last included term");
        var offset = NonNegative(ref r, "offset");
        var done = r.Bool("done");
        var data = r.Bytes("data").ToArray();
        var configuration = r.Configuration("configuration");
        return new InstallSnapshot(term, leaderId, lastIncludedIndex, lastIncludedTerm, offset, data, done, configuration);
    }

    private static ClusterConfiguration RequiredConfiguration(ref WireReader r) =>
        r.Configuration("configuration") ?? throw r.Malformed("the configuration is missing");

    private static MembershipRefusalReason RefusalReason(ref WireReader r)
    {
        var start = r.Position;
        var value = r.Varint("refusal reason");
        return value <= (ulong)Enum.GetValues<MembershipRefusalReason>().Max() && Enum.IsDefined((MembershipRefusalReason)value)
            ? (MembershipRefusalReason)value
            : throw r.Malformed($"the refusal reason at byte offset {start} is unknown ({value})");
    }

    /// <summary>A byte offset into a snapshot: a negative one is malformed (it would index before the file).</summary>
    private static long NonNegative(ref WireReader r, string field)
    {
        var start = r.Position;
        var value = r.Long(field);
        return value >= 0 ? value : throw r.Malformed($"the {field} at byte offset {start} is negative ({value})");
    }

    private void WritePayload(WireWriter w, object? payload, string field)
    {
        if (payload is null)
        {
            w.Byte(0);
            return;
        }

        Serializer serializer;
        string manifest;
        byte[] bytes;
        try
        {
            serializer = system.Serialization.FindSerializerFor(payload);
            manifest = Akka.Serialization.Serialization.ManifestFor(serializer, payload);
            bytes = serializer.ToBinary(payload);
        }
        catch (Exception e) when (e is not SerializationException)
        {
            throw new SerializationException($"the {field} ({payload.GetType().FullName}) cannot be serialized: {e.Message}", e);
        }

        w.Varint(ZigZag(serializer.Identifier) + 1);
        w.String(manifest, field + " manifest");
        w.Bytes(bytes);
    }

    private object? ReadPayload(ref WireReader r, string field)
    {
        var start = r.Position;
        var tag = r.Varint(field + " serializer id");
        if (tag == 0)
            return null;
        if (tag - 1 > uint.MaxValue)
            throw r.Malformed($"the {field} serializer id at byte offset {start} does not fit 32 bits");
        var serializerId = UnZigZag((uint)(tag - 1));
        var manifest = r.RequiredString(field + " manifest");
        var bytes = r.Bytes(field).ToArray();
        try
        {
            return system.Serialization.Deserialize(bytes, serializerId, manifest);
        }
        catch (Exception e)
        {
            throw r.Malformed(
                $"the {field} (serializer {serializerId}, manifest '{manifest}', {bytes.Length} bytes) at byte offset {start} " +
                $"cannot be deserialized: {e.Message}",
                e);
        }
    }

    /// <summary>A path with its address: one of this system's local paths gets this system's address, so it means the same elsewhere.</summary>
    private string SerializedPath(ActorPath path) =>
        path.Address.HasGlobalScope ? path.ToSerializationFormat() : path.ToSerializationFormatWithAddress(system.Provider.DefaultAddress);

    private static ActorPath? ReadPath(ref WireReader r)
    {
        var start = r.Position;
        var text = r.String("leader path");
        if (text is null)
            return null;
        ActorPath? path;
        try
        {
            // TryParse itself throws on some malformed input (e.g. a bad uid after '#').
            if (!ActorPath.TryParse(text, out path))
                path = null;
        }
        catch (Exception e)
        {
            throw r.Malformed($"the leader path at byte offset {start} is not an actor path: '{text}' ({e.Message})", e);
        }

        return path ?? throw r.Malformed($"the leader path at byte offset {start} is not an actor path: '{text}'");
    }

    private static ulong ZigZag(int value) => (uint)((value << 1) ^ (value >> 31));

    private static int UnZigZag(uint value) => (int)(value >> 1) ^ -(int)(value & 1);
}
