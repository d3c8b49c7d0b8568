using Xunit.Abstractions;

namespace RaftActors.FaultRunner;

/// <summary>
/// The fault run's log (it writes to an xunit <see cref="ITestOutputHelper"/>): every line to a
/// file; the run's own lines to the console as well, but not the servers' output that the
/// cluster appends when it is disposed (that stays in the file).
/// </summary>
internal sealed class ConsoleAndFileOutput(string path) : ITestOutputHelper, IDisposable
{
    private readonly StreamWriter _file = new(path, append: false) { AutoFlush = true };
    private readonly Lock _lock = new();
    private bool _serverOutput;

    public void WriteLine(string message)
    {
        lock (_lock)
        {
            _file.WriteLine(message);
            _serverOutput |= message.StartsWith("---- output of ", StringComparison.Ordinal);
            if (!_serverOutput)
                Console.WriteLine(message);
        }
    }

    public void WriteLine(string format, params object[] args) => WriteLine(string.Format(format, args));

    public void Dispose() => _file.Dispose();
}
