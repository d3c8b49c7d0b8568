using RaftActors.Core;
using RaftActors.Core.Hosting;

namespace RaftActors.Tests.Core.Hosting;

public class WaitingCommandsTests
{
    private static LogEntry Entry(long index, long term) => new(index, term, Command: null);

    [Fact]
    public void A_command_is_committed_only_by_an_entry_of_the_term_it_was_proposed_in()
    {
        var waiting = new WaitingCommands<string>();
        waiting.Add(index: 2, term: 1, "displaced");
        waiting.Add(index: 3, term: 2, "committed");

        // Index 2 holds another leader's entry (term 2): the command proposed there in term 1 is not it.
        var (committed, displaced) = waiting.Take([Entry(1, 1), Entry(2, 2), Entry(3, 2)]);

        Assert.Equal(new Dictionary<long, string> { [3] = "committed" }, committed);
        Assert.Equal(["displaced"], displaced);
        Assert.Equal(0, waiting.Count);
    }

    [Fact]
    public void Commands_past_the_committed_entries_keep_waiting()
    {
        var waiting = new WaitingCommands<string>();
        waiting.Add(index: 1, term: 1, "a");
        waiting.Add(index: 2, term: 1, "b");

        var (committed, displaced) = waiting.Take([Entry(1, 1)]);

        Assert.Equal(["a"], committed.Values);
        Assert.Empty(displaced);
        Assert.Equal(1, waiting.Count);
    }

    [Fact]
    public void TakeAll_takes_every_waiting_client_in_the_order_they_came()
    {
        var waiting = new WaitingCommands<string>();
        waiting.Add(index: 5, term: 1, "first");
        waiting.Add(index: 3, term: 1, "second");

        Assert.Equal(["first", "second"], waiting.TakeAll());
        Assert.Equal(0, waiting.Count);
        Assert.Empty(waiting.TakeAll());
    }
}
