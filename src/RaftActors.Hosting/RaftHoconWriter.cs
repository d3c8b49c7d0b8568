using System.Globalization;
using System.Text;
using System.Text.Json;

namespace RaftActors.Hosting;

/// <summary>
/// Writes option values as HOCON <c>key = value</c> lines, without judging them: the node's own
/// reader checks every value, so there is one set of rules. Remembers which option each key (and
/// each member's field) came from, so that a refused value can be traced back to the option.
/// </summary>
internal sealed class RaftHoconWriter
{
    private readonly StringBuilder _text = new();
    private readonly Dictionary<string, string> _optionOf = new(StringComparer.Ordinal);

    public string Text => _text.ToString();

    public IReadOnlyDictionary<string, string> OptionOf => _optionOf;

    public void String(string key, string option, string? value) => Line(key, option, value is null ? null : Quote(value));

    public void Raw(string key, string option, string? value) => Line(key, option, value);

    public void Switch(string key, string option, bool? value) => Line(key, option, value switch { null => null, true => "on", false => "off" });

    public void Number(string key, string option, long? value) => Line(key, option, value?.ToString(CultureInfo.InvariantCulture));

    /// <summary>
    /// In milliseconds with four decimals (one tick), so the node reads back exactly the value given; a negative
    /// value is written as it is, for the node's reader to refuse by the key's own rule.
    /// </summary>
    public void Duration(string key, string option, TimeSpan? value) =>
        Line(key, option, value is { } duration ? duration.TotalMilliseconds.ToString("0.####", CultureInfo.InvariantCulture) + "ms" : null);

    /// <summary>An empty list is not written: the key keeps the HOCON's list.</summary>
    public void Strings(string key, string option, ICollection<string> values) =>
        Line(key, option, values.Count == 0 ? null : "[" + string.Join(", ", values.Select(Quote)) + "]");

    /// <summary>An empty list is not written: the key keeps the HOCON's members.</summary>
    public void Members(string key, string option, IList<RaftMemberOptions> members)
    {
        if (members.Count == 0)
        {
            Line(key, option, null);
            return;
        }

        var entries = new List<string>();
        for (var i = 0; i < members.Count; i++)
        {
            var member = members[i];
            var fields = new List<string>();
            Field(fields, $"{key}[{i}]", $"{option}[{i}]", "id", nameof(RaftMemberOptions.Id), member.Id);
            Field(fields, $"{key}[{i}]", $"{option}[{i}]", "address", nameof(RaftMemberOptions.Address), member.Address);
            Field(fields, $"{key}[{i}]", $"{option}[{i}]", "path", nameof(RaftMemberOptions.Path), member.Path);
            entries.Add("{ " + string.Join(", ", fields) + " }");
        }

        Line(key, option, "[" + string.Join(", ", entries) + "]");
    }

    private void Field(List<string> fields, string entryKey, string entryOption, string name, string property, string? value)
    {
        _optionOf[$"{entryKey}.{name}"] = $"{entryOption}.{property}";
        if (value is not null)
            fields.Add($"{name} = {Quote(value)}");
    }

    /// <summary>
    /// Writes the key when the option has a value; names the option either way, so that a key
    /// missing or refused from HOCON also says which option sets it.
    /// </summary>
    private void Line(string key, string option, string? value)
    {
        _optionOf[key] = option;
        if (value is not null)
            _text.Append(key).Append(" = ").Append(value).Append('\n');
    }

    /// <summary>A JSON string is a HOCON quoted string: every character survives, none is read as syntax.</summary>
    public static string Quote(string value) => JsonSerializer.Serialize(value);
}
