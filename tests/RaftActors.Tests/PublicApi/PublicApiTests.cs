using System.Runtime.CompilerServices;
using PublicApiGenerator;
using RaftActors.Core;
using RaftActors.Node;

namespace RaftActors.Tests.PublicApi;

/// <summary>
/// The packages' public APIs, pinned: what users compile against changes only as a reviewed diff
/// of <c>&lt;assembly&gt;.approved.txt</c>. When an API changes on purpose, the test writes what it
/// found to <c>&lt;assembly&gt;.received.txt</c> beside it; review the difference and move that file
/// over the approved one.
/// </summary>
public sealed class PublicApiTests
{
    public static TheoryData<string> Packages() => new()
    {
        typeof(LogEntry).Assembly.GetName().Name!,
        typeof(RaftNode).Assembly.GetName().Name!,
        typeof(Coordination.RaftLease).Assembly.GetName().Name!,
    };

    [Theory]
    [MemberData(nameof(Packages))]
    public void The_public_API_is_the_approved_one(string assembly)
    {
        var api = System.Reflection.Assembly.Load(assembly).GeneratePublicApi(new ApiGeneratorOptions
        {
            IncludeAssemblyAttributes = false,
        });

        var approvedPath = Path.Combine(ThisDirectory(), $"{assembly}.approved.txt");
        var receivedPath = Path.Combine(ThisDirectory(), $"{assembly}.received.txt");
        var approved = File.Exists(approvedPath) ? Normalize(File.ReadAllText(approvedPath)) : "";
        if (Normalize(api) == approved)
        {
            File.Delete(receivedPath);
            return;
        }

        File.WriteAllText(receivedPath, api);
        Assert.Fail(
            $"The public API differs from {approvedPath}. What it is now is in {receivedPath}: " +
            "if the change is meant, review the difference (diff the two files) and move it over the approved one.");
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n").Trim();

    private static string ThisDirectory([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}
