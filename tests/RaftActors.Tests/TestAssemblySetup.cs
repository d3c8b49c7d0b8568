using System.Runtime.CompilerServices;

namespace RaftActors.Tests;

internal static class TestAssemblySetup
{
    /// <summary>
    /// TestKit's assertions block their thread while they wait, and xunit runs test classes in
    /// parallel: on a 2-core machine the thread pool then grows by about a thread a second, and
    /// the real-time cluster tests' timers and dispatchers stall for as long (seen as a second
    /// without any election activity, then every node timing out at once). Start with enough
    /// threads that blocking tests cannot starve the actors of the others.
    /// </summary>
    [ModuleInitializer]
    internal static void GiveTheThreadPoolRoomForBlockingTests()
    {
        ThreadPool.GetMinThreads(out var workers, out var completionPorts);
        ThreadPool.SetMinThreads(Math.Max(workers, 64), Math.Max(completionPorts, 64));
    }
}
