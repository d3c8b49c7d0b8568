using System.Buffers.Binary;
using System.Text;
using RaftActors.Core;
using RaftActors.Storage;

namespace RaftActors.Tests.Storage;

/// <summary>
/// The file store of the hard state. Figure 2: currentTerm and votedFor live on stable storage;
/// a node that restarts must find exactly what it last saved, and must refuse to run on
/// damaged state rather than forget a vote it cast.
/// </summary>
public sealed class FileRaftStorageTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private string HardStatePath => _dir.File(FileRaftStorage.HardStateFileName);

    private readonly List<FileRaftStorage> _stores = [];

    public void Dispose()
    {
        CloseEarlierIncarnations();
        _dir.Dispose();
    }

    /// <summary>Opens the store as a restarted node does: the earlier incarnations are gone, and with them their hold on the directory.</summary>
    private FileRaftStorage Open(string? directory = null)
    {
        CloseEarlierIncarnations();
        var store = FileRaftStorage.Open(directory ?? _dir.Path);
        _stores.Add(store);
        return store;
    }

    private void CloseEarlierIncarnations()
    {
        foreach (var store in _stores)
            store.Dispose();
        _stores.Clear();
    }

    [Fact]
    public void Open_OnAFreshDirectory_StartsFromTheInitialState()
    {
        var store = Open();

        Assert.Equal(HardState.Initial, store.HardState);
        Assert.False(File.Exists(HardStatePath)); // opening alone writes nothing
    }

    [Fact]
    public void Open_CreatesAMissingDirectory()
    {
        var nested = _dir.File("a/b/node1");

        var store = Open(nested);

        Assert.True(Directory.Exists(nested));
        Assert.Equal(HardState.Initial, store.HardState);
    }

    [Theory]
    [InlineData(0, null)]
    [InlineData(1, "n2")]
    [InlineData(7, "")] // an empty id is stored as such, distinct from no vote
    [InlineData(long.MaxValue, "node-with-a-long-id-0123456789-abcdefghijklmnopqrstuvwxyz")]
    [InlineData(42, "nœud-ünïcødé-节点")]
    public async Task HardState_RoundTripsAcrossOpen(long term, string? votedFor)
    {
        var state = new HardState(term, votedFor);
        var store = Open();

        await store.SaveHardStateAsync(state);

        Assert.Equal(state, store.HardState);
        Assert.Equal(state, Open().HardState);
    }

    [Fact]
    public async Task ReopenedStore_ReturnsTheLastSavedState()
    {
        var store = Open();
        await store.SaveHardStateAsync(new HardState(1, "n1"));
        await store.SaveHardStateAsync(new HardState(2, null));
        await store.SaveHardStateAsync(new HardState(2, "n3"));

        var reopened = Open();
        Assert.Equal(new HardState(2, "n3"), reopened.HardState);

        // the reopened store writes on from there
        await reopened.SaveHardStateAsync(new HardState(5, null));
        Assert.Equal(new HardState(5, null), Open().HardState);
        Assert.False(File.Exists(HardStatePath + ".tmp"));
    }

    // A crash between writing the temporary file and renaming it leaves hardstate.tmp behind. The
    // rename never happened, so the save never completed and nobody was told about it: the old
    // state is the durable one, even when the leftover is itself a valid, newer state.
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task LeftoverTemporaryFile_IsIgnored(bool leftoverIsValid)
    {
        var store = Open();
        await store.SaveHardStateAsync(new HardState(3, "n2"));
        await File.WriteAllBytesAsync(
            HardStatePath + ".tmp",
            leftoverIsValid ? FileRaftStorage.Encode(new HardState(9, "n3")) : [1, 2, 3]);

        var reopened = Open();

        Assert.Equal(new HardState(3, "n2"), reopened.HardState);
        await reopened.SaveHardStateAsync(new HardState(4, null));
        Assert.Equal(new HardState(4, null), Open().HardState);
    }

    [Fact]
    public async Task LeftoverTemporaryFile_WithoutAHardStateFile_IsIgnored()
    {
        await File.WriteAllBytesAsync(HardStatePath + ".tmp", FileRaftStorage.Encode(new HardState(9, "n3")));

        Assert.Equal(HardState.Initial, Open().HardState);
    }

    public static TheoryData<string, int> EveryByteOfEachEncoding()
    {
        var data = new TheoryData<string, int>();
        foreach (var (name, state) in SampleStates)
            for (var offset = 0; offset < FileRaftStorage.Encode(state).Length; offset++)
                data.Add(name, offset);
        return data;
    }

    private static readonly (string Name, HardState State)[] SampleStates =
    [
        ("vote", new HardState(42, "node-7")),
        ("no vote", new HardState(3, null)),
    ];

    // A single flipped bit anywhere in the file — header, term, vote length, vote, checksum — is
    // detected: the store refuses to open, naming the file, and leaves the evidence untouched.
    [Theory]
    [MemberData(nameof(EveryByteOfEachEncoding))]
    public void FlippedBit_AnywhereInTheFile_IsRefusedNamingTheFile(string sample, int offset)
    {
        var good = FileRaftStorage.Encode(SampleStates.Single(s => s.Name == sample).State);

        for (var bit = 0; bit < 8; bit++)
        {
            var damaged = (byte[])good.Clone();
            damaged[offset] ^= (byte)(1 << bit);
            File.WriteAllBytes(HardStatePath, damaged);

            var e = Assert.Throws<RaftStorageException>(() => Open());

            Assert.True(e.Message.Contains(HardStatePath, StringComparison.Ordinal),
                $"{sample}, byte {offset}, bit {bit}: message does not name {HardStatePath}: {e.Message}");
            Assert.Equal(damaged, File.ReadAllBytes(HardStatePath));
        }
    }

    public static TheoryData<string, int> EveryShorterLength()
    {
        var data = new TheoryData<string, int>();
        foreach (var (name, state) in SampleStates)
            for (var length = 0; length < FileRaftStorage.Encode(state).Length; length++)
                data.Add(name, length);
        return data;
    }

    // A torn write (a prefix of the file) is refused, whatever its length, including empty.
    [Theory]
    [MemberData(nameof(EveryShorterLength))]
    public void TruncatedFile_IsRefusedNamingTheFile(string sample, int length)
    {
        var good = FileRaftStorage.Encode(SampleStates.Single(s => s.Name == sample).State);
        File.WriteAllBytes(HardStatePath, good[..length]);

        var e = Assert.Throws<RaftStorageException>(() => Open());

        Assert.Contains(HardStatePath, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new byte[] { 0 })]
    [InlineData(new byte[] { 0, 0, 0, 0 })]
    public void TrailingBytes_AreRefused(byte[] extra)
    {
        File.WriteAllBytes(HardStatePath, [.. FileRaftStorage.Encode(new HardState(5, "n2")), .. extra]);

        var e = Assert.Throws<RaftStorageException>(() => Open());

        Assert.Contains(HardStatePath, e.Message, StringComparison.Ordinal);
    }

    // Content that passes the checksum but makes no sense (written by a buggy or foreign writer)
    // is refused too.
    [Theory]
    [InlineData(-1, 2, "n2")]   // negative term
    [InlineData(5, 3, "n2")]    // vote length longer than the vote
    [InlineData(5, 1, "n2")]    // vote length shorter than the vote
    [InlineData(5, -2, "")]     // vote length below the "no vote" marker -1
    [InlineData(5, -1, "n2")]   // "no vote" followed by vote bytes
    public void InconsistentContentWithAValidChecksum_IsRefusedNamingTheFile(long term, int voteLength, string voteBytes)
    {
        var vote = Encoding.UTF8.GetBytes(voteBytes);
        var body = new byte[8 + 8 + 4 + vote.Length];
        "RAFTHS\0\u0001"u8.CopyTo(body);
        BinaryPrimitives.WriteInt64LittleEndian(body.AsSpan(8), term);
        BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(16), voteLength);
        vote.CopyTo(body.AsSpan(20));
        var file = new byte[body.Length + 4];
        body.CopyTo(file, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(body.Length), Crc32C.Compute(body));
        File.WriteAllBytes(HardStatePath, file);

        var e = Assert.Throws<RaftStorageException>(() => Open());

        Assert.Contains(HardStatePath, e.Message, StringComparison.Ordinal);
    }

    // The layout documented in FileRaftStorage: magic(8) term(8) voteLength(4) vote(utf8) crc32c(4),
    // little-endian. Pinned so that a change of format is a deliberate one.
    [Fact]
    public void Encoding_FollowsTheDocumentedLayout()
    {
        var bytes = FileRaftStorage.Encode(new HardState(0x0102030405060708, "ab"));

        Assert.Equal(
            new byte[]
            {
                (byte)'R', (byte)'A', (byte)'F', (byte)'T', (byte)'H', (byte)'S', 0, 1,
                8, 7, 6, 5, 4, 3, 2, 1,
                2, 0, 0, 0,
                (byte)'a', (byte)'b',
            },
            bytes[..^4]);
        Assert.Equal(Crc32C.Compute(bytes.AsSpan(0, bytes.Length - 4)), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4)));
        Assert.Equal(-1, BinaryPrimitives.ReadInt32LittleEndian(FileRaftStorage.Encode(new HardState(1, null)).AsSpan(16)));
    }

    [Fact]
    public async Task HardStateProperty_ReflectsTheLastCompletedSave()
    {
        var store = Open();

        await store.SaveHardStateAsync(new HardState(1, "n2"));
        Assert.Equal(new HardState(1, "n2"), store.HardState);
        await store.SaveHardStateAsync(new HardState(2, null));
        Assert.Equal(new HardState(2, null), store.HardState);
    }

    // Saves that overlap (a caller that does not wait, or a restarted node handed the same store
    // while its predecessor's write still runs) share one temporary file; each must complete and
    // the file must end up holding one whole state that was saved, never a mix.
    [Fact]
    public async Task OverlappingSaves_AllComplete_AndLeaveOneWholeSavedState()
    {
        var store = Open();
        var states = Enumerable.Range(1, 32).Select(i => new HardState(i, $"n{i}")).ToList();

        await Task.WhenAll(states.Select(store.SaveHardStateAsync));

        var reopened = Open().HardState;
        Assert.Contains(reopened, states);
        Assert.False(File.Exists(HardStatePath + ".tmp"));
    }
}
