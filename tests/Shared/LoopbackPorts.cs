using System.Net;
using System.Net.Sockets;

namespace RaftActors.Testing;

/// <summary>
/// Ports for clusters on 127.0.0.1, picked by the OS. Compiled into every project that starts
/// servers on real ports (the test projects and the benchmark).
/// </summary>
internal static class LoopbackPorts
{
    /// <summary>
    /// <paramref name="count"/> distinct ports free now, all held open until every one is chosen
    /// (the OS does not hand a port out again at once after it is closed).
    /// </summary>
    public static int[] Free(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        try
        {
            listeners.ForEach(l => l.Start());
            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            listeners.ForEach(l => l.Stop());
        }
    }

    /// <summary>One port free now.</summary>
    public static int Free() => Free(1)[0];
}
