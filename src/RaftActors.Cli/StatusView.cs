using Spectre.Console;
using Spectre.Console.Rendering;

namespace RaftActors.Cli;

/// <summary>The cluster's status as a table, and the live <c>watch</c> view: the table refreshed, with the changes seen below it.</summary>
public static class StatusView
{
    private const int ChangesShown = 12;

    public static Table Table(IReadOnlyList<NodeStatus> statuses)
    {
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn("node");
        table.AddColumn("endpoint");
        table.AddColumn("role");
        table.AddColumn(new TableColumn("term").RightAligned());
        table.AddColumn("leader");
        table.AddColumn(new TableColumn("commit").RightAligned());
        table.AddColumn(new TableColumn("applied").RightAligned());
        table.AddColumn(new TableColumn("log").RightAligned());
        foreach (var s in statuses)
        {
            if (!s.Up)
            {
                table.AddRow(Esc(s.Name), Esc(s.Node.Url.Authority), $"[red]{Esc(s.Problem!)}[/]", "", "", "", "", "");
                continue;
            }

            var role = s.Role switch
            {
                "Leader" => "[green bold]Leader[/]",
                "Candidate" => "[yellow]Candidate[/]",
                var r => Esc(r ?? "?"),
            };
            table.AddRow(
                Esc(s.Name), Esc(s.Node.Url.Authority), role, s.Term.ToString(), Esc(s.Leader ?? "-"),
                s.CommitIndex.ToString(), s.LastApplied.ToString(), s.LastLogIndex.ToString());
        }

        table.Caption(Summary(statuses));
        return table;
    }

    /// <summary>The statuses as an indented JSON array, a node an object: what <c>status -o json</c> prints.</summary>
    public static string Json(IReadOnlyList<NodeStatus> statuses) => System.Text.Json.JsonSerializer.Serialize(
        statuses.Select(s => new
        {
            node = s.Name,
            endpoint = s.Node.Url.ToString(),
            up = s.Up,
            role = s.Role,
            term = s.Up ? s.Term : (long?)null,
            leader = s.Leader,
            commitIndex = s.Up ? s.CommitIndex : (long?)null,
            lastApplied = s.Up ? s.LastApplied : (long?)null,
            lastLogIndex = s.Up ? s.LastLogIndex : (long?)null,
            problem = s.Problem,
        }),
        new System.Text.Json.JsonSerializerOptions { WriteIndented = true });

    /// <summary>A configuration as <c>GET /members</c> (or a membership change) returns it: a row a member.</summary>
    public static Table Members(System.Text.Json.JsonElement body)
    {
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn("member");
        table.AddColumn("address");
        table.AddColumn("votes");
        var leader = body.TryGetProperty("leader", out var l) ? l.GetString() : null;
        foreach (var member in body.GetProperty("members").EnumerateArray())
        {
            var id = member.GetProperty("id").GetString() ?? "?";
            table.AddRow(
                id == leader ? $"[green bold]{Esc(id)}[/] (leader)" : Esc(id),
                Esc(member.GetProperty("address").GetString() ?? "-"),
                member.GetProperty("voter").GetBoolean() ? "voter" : "[yellow]learner[/]");
        }

        var committed = body.TryGetProperty("committed", out var c) && c.GetBoolean();
        table.Caption($"configuration at index {body.GetProperty("index").GetInt64()}{(committed ? ", committed" : ", not committed yet")}");
        return table;
    }

    /// <summary>One line about the whole cluster: the leader every node that answered follows, or why there is none.</summary>
    public static string Summary(IReadOnlyList<NodeStatus> statuses)
    {
        var up = statuses.Where(s => s.Up).ToList();
        var count = $"{up.Count} of {statuses.Count} nodes up";
        if (up.Count == 0)
            return $"no node answered ({count})";
        var leaders = up.Where(s => s.Role == "Leader").ToList();
        var newest = leaders.OrderByDescending(s => s.Term).FirstOrDefault();
        if (newest is null)
            return $"no leader ({count})";
        var following = up.Count(s => s.Term == newest.Term && s.Leader == newest.Id);
        return following == up.Count
            ? $"leader {newest.Name} in term {newest.Term}, followed by all {up.Count} that answered ({count})"
            : $"leader {newest.Name} in term {newest.Term}, followed by {following} of {up.Count} that answered ({count})";
    }

    /// <summary>Lines for what changed from one poll to the next: a node's role, term or leader, or it came up or went down.</summary>
    public static IEnumerable<string> Changes(IReadOnlyList<NodeStatus>? before, IReadOnlyList<NodeStatus> after)
    {
        for (var i = 0; i < after.Count; i++)
        {
            var now = after[i];
            var then = before?[i];
            if (then is null)
                yield return Describe(now);
            else if (then.Up != now.Up || then.Role != now.Role || then.Term != now.Term || then.Leader != now.Leader)
                yield return then.Up && now.Up && then.Role != now.Role ? $"{now.Name}  {then.Role} -> {Describe(now)[(now.Name.Length + 2)..]}" : Describe(now);
        }
    }

    private static string Describe(NodeStatus s) =>
        s.Up ? $"{s.Name}  {s.Role}  term {s.Term}  leader {s.Leader ?? "-"}" : $"{s.Name}  {s.Problem}";

    /// <summary>Polls every node each <paramref name="interval"/> until cancelled: a live table on a terminal, change lines otherwise.</summary>
    public static async Task<int> WatchAsync(KvClient client, TimeSpan interval, CancellationToken cancel)
    {
        var changes = new Queue<string>();
        IReadOnlyList<NodeStatus>? previous = null;

        void Record(IReadOnlyList<NodeStatus> statuses)
        {
            foreach (var change in Changes(previous, statuses))
            {
                changes.Enqueue($"{DateTime.Now:HH:mm:ss.fff}  {change}");
                while (changes.Count > ChangesShown)
                    changes.Dequeue();
            }

            previous = statuses;
        }

        IRenderable View(IReadOnlyList<NodeStatus> statuses) => new Rows(
            Table(statuses),
            new Markup($"[grey]changes (newest last), every {interval.TotalMilliseconds:F0} ms; Ctrl+C to stop[/]"),
            new Text(string.Join("\n", changes)));

        try
        {
            if (!AnsiConsole.Profile.Capabilities.Interactive || Console.IsOutputRedirected)
            {
                // Not a terminal: the table once, then one line per change.
                var first = await client.StatusAsync(cancel);
                AnsiConsole.Write(Table(first));
                previous = first;
                while (true)
                {
                    await Task.Delay(interval, cancel);
                    var statuses = await client.StatusAsync(cancel);
                    foreach (var change in Changes(previous, statuses))
                        Console.WriteLine($"{DateTime.Now:HH:mm:ss.fff}  {change}");
                    previous = statuses;
                }
            }

            var initial = await client.StatusAsync(cancel);
            Record(initial);
            await AnsiConsole.Live(View(initial)).AutoClear(false).StartAsync(async live =>
            {
                while (true)
                {
                    await Task.Delay(interval, cancel);
                    var statuses = await client.StatusAsync(cancel);
                    Record(statuses);
                    live.UpdateTarget(View(statuses));
                }
            });
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
        }

        return ExitCodes.Ok;
    }

    private static string Esc(string text) => Markup.Escape(text);
}
