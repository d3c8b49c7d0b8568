using RaftActors.Storage;

namespace RaftActors.Tests.Storage;

/// <summary>Reads write-ahead log segments as recovery sees them, for tests that cut or damage them.</summary>
internal static class WalFiles
{
    /// <summary>Where the valid records of segment <paramref name="path"/> end: what follows is zeros, or a torn write.</summary>
    public static int RecordsEnd(string path) => RecordsEnd(File.ReadAllBytes(path));

    public static int RecordsEnd(byte[] segment) => RecordEnds(segment) is [.., var last] ? last : WriteAheadLog.SegmentHeaderSize;

    /// <summary>Where each of the valid records at the start of <paramref name="segment"/> ends, in order.</summary>
    public static List<int> RecordEnds(byte[] segment)
    {
        var ends = new List<int>();
        var offset = WriteAheadLog.SegmentHeaderSize;
        while (offset < segment.Length && WriteAheadLog.ReadRecord(segment.AsSpan(offset), out _, out _, out var size, out _) == WriteAheadLog.RecordStatus.Valid)
        {
            offset += size;
            ends.Add(offset);
        }

        return ends;
    }

    /// <summary>Are all the bytes of <paramref name="path"/> from <paramref name="offset"/> on zeros?</summary>
    public static bool ZerosFrom(string path, int offset) => File.ReadAllBytes(path).AsSpan(offset).IndexOfAnyExcept((byte)0) < 0;
}
