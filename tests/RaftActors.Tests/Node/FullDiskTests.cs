using System.Diagnostics;
using System.Text;
using Akka.Actor;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Node;
using RaftActors.StateMachine;
using RaftActors.Storage;
using RaftActors.Tests.Storage;

namespace RaftActors.Tests.Node;

/// <summary>
/// A one-node cluster on a real file system that fills up (a 2 MiB tmpfs): the node acknowledges
/// writes until the disk is full, then acknowledges nothing more and reports the failure; once the
/// file system is made bigger and the node restarted on the same directory, every write it
/// acknowledged is there and it takes writes again. In real time.
/// </summary>
public sealed class FullDiskTests : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private readonly TmpfsMount _disk = new("2m");
    private readonly List<FileRaftStorage> _stores = [];

    void IDisposable.Dispose()
    {
        Shutdown();
        foreach (var store in _stores)
            store.Dispose();
        _disk.Dispose();
    }

    [TmpfsFact]
    public void A_node_whose_disk_fills_acknowledges_nothing_more_and_after_space_is_freed_keeps_every_acknowledged_write()
    {
        var directory = Path.Combine(_disk.Path, "n1");
        var first = StartSoloLeader(directory, "n1");
        var payload = new string('x', 4000);
        var acknowledged = new List<string>();
        object? refusal = null;
        for (var i = 0; i < 2000 && refusal is null; i++)
        {
            var reply = first.Ask<object>(new ClientCommand(Encoding.UTF8.GetBytes($"w{i}-{payload}")), Bound).Result;
            if (reply is CommandApplied)
                acknowledged.Add($"w{i}-{payload}");
            else
                refusal = reply;
        }

        Assert.True(refusal is not null, "2000 writes of 4 KB fitted on a 2 MiB file system");
        Assert.NotEmpty(acknowledged);
        var status = first.Ask<RaftStatus>(GetRaftStatus.Instance, Bound).Result;
        Assert.Contains("No space left on device", status.StorageFailure);
        Assert.Contains(directory, status.StorageFailure);
        Assert.False(RaftReadiness.Of(status).IsReady);
        Assert.IsType<NotLeader>(first.Ask<object>(new ClientCommand(Encoding.UTF8.GetBytes("after")), Bound).Result);

        Watch(first);
        Sys.Stop(first);
        ExpectTerminated(first, Bound);
        _stores[0].Dispose();
        _disk.Resize("8m");

        var machine = new ListStateMachine();
        var again = StartSoloLeader(directory, "n1-again", () => machine);
        var last = again.Ask<CommandApplied>(new ClientCommand(Encoding.UTF8.GetBytes("after")), Bound).Result;
        AwaitCondition(() => machine.Applied.Count > 0 && machine.Applied[^1].Index == last.Index, Bound);
        var applied = machine.Applied.Select(a => a.Item).ToList();
        Assert.Equal(acknowledged, applied.Take(acknowledged.Count));
        Assert.Equal("after", applied[^1]);
    }

    /// <summary>Opens the store in <paramref name="directory"/> and starts a one-node cluster on it, waiting until it leads.</summary>
    private IActorRef StartSoloLeader(string directory, string name, Func<IRaftStateMachine>? stateMachine = null)
    {
        var storage = FileRaftStorage.Open(directory, new FileRaftStorageOptions { SegmentSize = 256 * 1024 });
        _stores.Add(storage);
        var settings = new RaftSettings(TimeSpan.FromMilliseconds(150), TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(50), randomSeed: 1);
        var node = Sys.ActorOf(RaftNode.Props(new RaftMembership("n1", []), settings, storage, stateMachine), name);
        AwaitCondition(() => node.Ask<RaftStatus>(GetRaftStatus.Instance, Bound).Result.Role == RaftRole.Leader, Bound);
        return node;
    }
}

/// <summary>A fact that needs to mount a tmpfs (root with CAP_SYS_ADMIN, on Linux); skipped, saying why, where it cannot.</summary>
public sealed class TmpfsFactAttribute : FactAttribute
{
    public TmpfsFactAttribute()
    {
        if (TmpfsMount.Unavailable.Value is { } reason)
            Skip = reason;
    }
}

/// <summary>A tmpfs of a given size mounted on a fresh directory, unmounted and deleted on dispose.</summary>
internal sealed class TmpfsMount : IDisposable
{
    private readonly TempDirectory _directory = new();
    private bool _mounted;

    public TmpfsMount(string size)
    {
        if (Unavailable.Value is not null)
            return; // the test is skipped; nothing to mount
        Run("mount", "-t", "tmpfs", "-o", $"size={size}", "tmpfs", Path);
        _mounted = true;
    }

    /// <summary>Why a tmpfs cannot be mounted here, found by mounting a small one; null when it can.</summary>
    public static readonly Lazy<string?> Unavailable = new(() =>
    {
        if (!OperatingSystem.IsLinux())
            return "mounting a tmpfs needs Linux";
        using var probe = new TempDirectory();
        try
        {
            Run("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe.Path);
            Run("umount", probe.Path);
            return null;
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return $"cannot mount a tmpfs (needs root with CAP_SYS_ADMIN): {e.Message}";
        }
    });

    public string Path => _directory.Path;

    /// <summary>Grows (or shrinks) the file system, keeping its files: as an operator frees space.</summary>
    public void Resize(string size) => Run("mount", "-o", $"remount,size={size}", Path);

    public void Dispose()
    {
        if (_mounted)
            Run("umount", "-l", Path);
        _directory.Dispose();
    }

    private static void Run(string command, params string[] arguments)
    {
        var start = new ProcessStartInfo(command) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{command} {string.Join(' ', arguments)} exited with {process.ExitCode}: {error.Trim()}");
    }
}
