using System.Net;
using System.Text;
using System.Text.Json;

namespace RaftActors.IntegrationTests;

/// <summary>
/// What <c>PUT /kv/{key}</c> takes as a value: a body of UTF-8 text up to
/// <c>raft.server.max-value-size</c>, whether it comes with a length or in chunks; anything else
/// is refused with a 400 that says why, and nothing is written.
/// </summary>
public sealed class KvBodyTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StartupBound = TimeSpan.FromSeconds(30);

    [Fact(Timeout = 90_000)]
    public async Task A_value_is_UTF8_text_up_to_the_maximum_size_with_or_without_a_length()
    {
        using var cluster = new TestCluster(output, size: 1, raftConfig: "server.max-value-size = 64b");
        cluster.StartAll();
        await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, StartupBound);

        // At the limit, sent with a length and sent in chunks of a few bytes without one.
        var atLimit = "é" + new string('v', 62);
        Assert.Equal(64, Encoding.UTF8.GetByteCount(atLimit));
        Assert.Equal(200, (await PutAsync(cluster, "sized", new ByteArrayContent(Encoding.UTF8.GetBytes(atLimit)))).Status);
        Assert.Equal(200, (await PutAsync(cluster, "chunked", new ChunkedContent(Encoding.UTF8.GetBytes(atLimit), chunk: 5))).Status);
        Assert.Equal(200, (await PutAsync(cluster, "empty", new ByteArrayContent([]))).Status);
        foreach (var (key, value) in new[] { ("sized", atLimit), ("chunked", atLimit), ("empty", "") })
        {
            var read = await cluster.GetAsync(0, key);
            Assert.Equal(200, read.Status);
            Assert.Equal(value, JsonDocument.Parse(read.Body).RootElement.GetProperty("value").GetString());
        }

        // One byte over, with a length (refused before reading) and in chunks (refused as it grows).
        var over = Encoding.UTF8.GetBytes(atLimit + "v");
        foreach (var content in new HttpContent[] { new ByteArrayContent(over), new ChunkedContent(over, chunk: 5) })
        {
            var refused = await PutAsync(cluster, "over", content);
            Assert.Equal(400, refused.Status);
            Assert.Contains("larger than 64 bytes (raft.server.max-value-size)", refused.Body, StringComparison.Ordinal);
        }

        var notText = await PutAsync(cluster, "bytes", new ByteArrayContent([0x76, 0xC3, 0x28]));
        Assert.Equal(400, notText.Status);
        Assert.Contains("not valid UTF-8", notText.Body, StringComparison.Ordinal);

        Assert.Equal(404, (await cluster.GetAsync(0, "over")).Status);
        Assert.Equal(404, (await cluster.GetAsync(0, "bytes")).Status);
    }

    private static Task<Reply> PutAsync(TestCluster cluster, string key, HttpContent content) =>
        cluster.SendAsync(0, HttpMethod.Put, $"/kv/{key}", content, idempotencyKey: $"body-{key}-{Guid.NewGuid():N}");

    /// <summary>A body sent with chunked transfer encoding, <paramref name="chunk"/> bytes at a time, each flushed.</summary>
    private sealed class ChunkedContent(byte[] data, int chunk) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            for (var offset = 0; offset < data.Length; offset += chunk)
            {
                await stream.WriteAsync(data.AsMemory(offset, Math.Min(chunk, data.Length - offset)));
                await stream.FlushAsync();
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
