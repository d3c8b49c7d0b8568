namespace RaftActors.Storage;

/// <summary>Stored data is unreadable or inconsistent, or could not be written; the node refuses to use it.</summary>
public sealed class RaftStorageException : Exception
{
    public RaftStorageException(string message, Exception? inner = null) : base(message, inner)
    {
    }
}
