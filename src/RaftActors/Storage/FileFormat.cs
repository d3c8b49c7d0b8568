namespace RaftActors.Storage;

/// <summary>
/// The versions of the store's files. Each kind of file (write-ahead log segment, hard state,
/// snapshot) starts with an 8-byte magic: 7 bytes naming the kind, then the version of its format.
/// A build reads the versions up to its own and refuses a newer one before reading further: a
/// format it does not know could be misread as damage, and "repaired" by truncating the log.
/// </summary>
internal static class FileFormat
{
    /// <summary>The length of a magic; its last byte is the format's version.</summary>
    public const int MagicLength = 8;

    /// <summary>
    /// Throws when <paramref name="header"/> starts with the kind of <paramref name="magic"/> in a
    /// version above the one <paramref name="magic"/> carries (this build's). Anything else is left
    /// to the caller's own checks.
    /// </summary>
    /// <exception cref="RaftStorageException">The file was written by a newer release; the message names the file and both versions.</exception>
    public static void RefuseNewer(string path, ReadOnlySpan<byte> header, ReadOnlySpan<byte> magic, string kind)
    {
        var version = magic[MagicLength - 1];
        if (header.Length >= MagicLength && header[..(MagicLength - 1)].SequenceEqual(magic[..(MagicLength - 1)]) && header[MagicLength - 1] > version)
            throw new RaftStorageException(
                $"{path}: a {kind} in format version {header[MagicLength - 1]}, written by a newer release of RaftActors; this build reads " +
                $"version {version} and earlier, so the store will not open. Run the release that wrote it (or a newer one): " +
                "a data directory cannot go back to an older release once a newer one has written it. If no newer release " +
                $"ever ran on it, the file is damaged at byte offset {MagicLength - 1}");
    }
}
