using System.Runtime.CompilerServices;
using PublicApiGenerator;
using RaftActors.Node;

namespace RaftActors.Tests.PublicApi;

/// <summary>
/// The library's public API, pinned: what users compile against changes only as a reviewed diff
/// of <c>RaftActors.approved.txt</c>. When the API changes on purpose, the test writes what it
/// found to <c>RaftActors.received.txt</c> beside it; review the difference and move that file
/// over the approved one.
/// </summary>
public sealed class PublicApiTests
{
    [Fact]
    public void The_public_API_is_the_approved_one()
    {
        var api = typeof(RaftNode).Assembly.GeneratePublicApi(new ApiGeneratorOptions
        {
            IncludeAssemblyAttributes = false,
        });

        var approvedPath = Path.Combine(ThisDirectory(), "RaftActors.approved.txt");
        var receivedPath = Path.Combine(ThisDirectory(), "RaftActors.received.txt");
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
