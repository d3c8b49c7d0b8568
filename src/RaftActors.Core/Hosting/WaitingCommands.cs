namespace RaftActors.Core.Hosting;

/// <summary>
/// Clients waiting for their command's commit, by the log index the leader put the command at,
/// with the term it was proposed in. The entry committed at that index is the client's command only
/// if it is of that term; an entry of another term means another leader's entry took the command's
/// place, and the client must not be told its command was done.
/// </summary>
/// <typeparam name="TClient">Who waits for the outcome: the host's own type (an actor reference, a simulated request).</typeparam>
internal sealed class WaitingCommands<TClient>
{
    // A dictionary (not a sorted map): clients are answered in the order they were added, which the
    // simulator's replay depends on.
    private readonly Dictionary<long, (long Term, TClient Client)> _byIndex = new();

    public int Count => _byIndex.Count;

    /// <summary>A leader of <paramref name="term"/> appended the client's command at <paramref name="index"/>.</summary>
    public void Add(long index, long term, TClient client) => _byIndex[index] = (term, client);

    /// <summary>
    /// Takes the clients of these committed entries: those whose command they are (by index, to
    /// answer with the entry's result), and those whose index holds another term's entry (to answer
    /// "outcome unknown").
    /// </summary>
    public (IReadOnlyDictionary<long, TClient> Committed, IReadOnlyList<TClient> Displaced) Take(IReadOnlyList<LogEntry> committedEntries)
    {
        var committed = new Dictionary<long, TClient>();
        var displaced = new List<TClient>();
        foreach (var entry in committedEntries)
        {
            if (!_byIndex.Remove(entry.Index, out var waiting))
                continue;
            if (waiting.Term == entry.Term)
                committed[entry.Index] = waiting.Client;
            else
                displaced.Add(waiting.Client);
        }

        return (committed, displaced);
    }

    /// <summary>Takes every waiting client (their commands' fate is no longer this node's to tell).</summary>
    public IReadOnlyList<TClient> TakeAll()
    {
        var all = _byIndex.Values.Select(waiting => waiting.Client).ToList();
        _byIndex.Clear();
        return all;
    }
}
