using System.Globalization;
using System.Text;
using Spectre.Console;

namespace RaftActors.Cli;

/// <summary>One sample of the Prometheus text format: a series' name, its labels and its value.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    /// <summary>
    /// The samples of a <c>GET /metrics</c> answer (the text exposition format: one
    /// <c>name{label="value",...} value [timestamp]</c> a line, <c>#</c> comments); lines that are
    /// not samples are skipped.
    /// </summary>
    public static IReadOnlyList<PrometheusSample> Parse(string text)
    {
        var samples = new List<PrometheusSample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
                continue;
            var labels = new Dictionary<string, string>();
            var nameEnd = line.IndexOfAny(['{', ' ']);
            if (nameEnd <= 0)
                continue;
            var name = line[..nameEnd];
            var rest = nameEnd;
            if (line[nameEnd] == '{' && !TryReadLabels(line, nameEnd + 1, labels, out rest))
                continue;
            var fields = line[rest..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > 0 && TryParseValue(fields[0], out var value))
                samples.Add(new PrometheusSample(name, labels, value));
        }

        return samples;
    }

    private static bool TryReadLabels(string line, int at, Dictionary<string, string> labels, out int end)
    {
        end = at;
        while (at < line.Length && line[at] != '}')
        {
            var equals = line.IndexOf('=', at);
            if (equals < 0 || equals + 1 >= line.Length || line[equals + 1] != '"')
                return false;
            var key = line[at..equals].Trim(' ', ',');
            var value = new StringBuilder();
            var i = equals + 2;
            for (; i < line.Length && line[i] != '"'; i++)
            {
                if (line[i] == '\\' && i + 1 < line.Length)
                    value.Append(line[++i] == 'n' ? '\n' : line[i]);
                else
                    value.Append(line[i]);
            }

            if (i >= line.Length)
                return false;
            labels[key] = value.ToString();
            at = i + 1;
            while (at < line.Length && line[at] is ',' or ' ')
                at++;
        }

        end = at + 1;
        return at < line.Length;
    }

    private static bool TryParseValue(string text, out double value)
    {
        switch (text)
        {
            case "+Inf":
                value = double.PositiveInfinity;
                return true;
            case "-Inf":
                value = double.NegativeInfinity;
                return true;
            default:
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
        }
    }
}

/// <summary>
/// <c>raftctl metrics</c>: the main raft series of each node, a column a node (so that it fits a
/// terminal whatever the number of series); docs/metrics.md lists them all.
/// </summary>
public static class MetricsView
{
    /// <summary>The servers' exporter names a series after its meter, then its instrument: raftactors_raft_node_term.</summary>
    private const string Series = "raftactors_";

    private static readonly (string Label, Func<IReadOnlyList<PrometheusSample>, string> Read)[] Rows =
    [
        ("role", s => s.FirstOrDefault(x => x.Name == Series + "raft_node_role" && x.Value == 1)?.Labels.GetValueOrDefault("raft_role") ?? "?"),
        ("term", s => Whole(One(s, "raft_node_term"))),
        ("commit index", s => Whole(One(s, "raft_log_commit_index"))),
        ("applied lag", s => Whole(One(s, "raft_log_applied_lag"))),
        ("proposals applied", s => Whole(Sum(s, "raft_proposals", x => x.Labels.GetValueOrDefault("raft_proposal_outcome") == "applied"))),
        ("proposals not applied", s => Whole(Sum(s, "raft_proposals", x => x.Labels.GetValueOrDefault("raft_proposal_outcome") != "applied"))),
        ("elections won/started", s => $"{Whole(Sum(s, "raft_elections_won"))}/{Whole(Sum(s, "raft_elections_started"))}"),
        ("durable writes", s => Whole(Sum(s, "raft_storage_write_duration_count"))),
        ("mean write", s => Sum(s, "raft_storage_write_duration_count") is > 0 and var n
            ? $"{Sum(s, "raft_storage_write_duration_sum") / n * 1000:F2} ms"
            : "-"),
        ("max follower lag", s => s.Where(x => x.Name == Series + "raft_replication_lag").Select(x => (double?)x.Value).Max() is { } lag ? Whole(lag) : "-"),
    ];

    public static Table Table(IReadOnlyList<NodeScrape> scrapes)
    {
        // A server hosts one node, but an embedding process may host several: a column each.
        var columns = new List<(string Heading, string? Problem, IReadOnlyList<PrometheusSample> Samples)>();
        foreach (var scrape in scrapes)
        {
            if (scrape.Text is null)
            {
                columns.Add((scrape.Node.Name, scrape.Problem ?? "?", []));
                continue;
            }

            var samples = PrometheusSample.Parse(scrape.Text).Where(s => s.Name.StartsWith(Series + "raft_", StringComparison.Ordinal)).ToList();
            var nodeIds = samples.Select(s => s.Labels.GetValueOrDefault("raft_node_id")).OfType<string>().Distinct().Order().ToList();
            if (nodeIds.Count == 0)
                columns.Add((scrape.Node.Name, "no raft series", []));
            foreach (var id in nodeIds)
                columns.Add((id, null, samples.Where(s => s.Labels.GetValueOrDefault("raft_node_id") == id).ToList()));
        }

        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn("");
        foreach (var column in columns)
            table.AddColumn(new TableColumn(Markup.Escape(column.Heading)).RightAligned());
        foreach (var (label, read) in Rows)
        {
            table.AddRow([label, .. columns.Select(c => c.Problem is { } problem
                ? label == "role" ? $"[red]{Markup.Escape(problem)}[/]" : ""
                : Style(label, read(c.Samples)))]);
        }

        return table;
    }

    private static string Style(string label, string value) =>
        label == "role" && value == "leader" ? "[green bold]leader[/]" : Markup.Escape(value);

    private static double? One(IReadOnlyList<PrometheusSample> samples, string name) =>
        samples.FirstOrDefault(s => s.Name == Series + name)?.Value;

    private static double Sum(IReadOnlyList<PrometheusSample> samples, string name, Func<PrometheusSample, bool>? where = null) =>
        samples.Where(s => s.Name == Series + name && (where is null || where(s))).Sum(s => s.Value);

    private static string Whole(double? value) => value is { } v ? v.ToString("F0", CultureInfo.InvariantCulture) : "-";
}
