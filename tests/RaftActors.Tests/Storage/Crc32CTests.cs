using System.Text;
using RaftActors.Storage;

namespace RaftActors.Tests.Storage;

/// <summary>CRC-32C (Castagnoli), the checksum guarding every stored record.</summary>
public class Crc32CTests
{
    // Known vectors: the standard check value of "123456789", and RFC 3720 (iSCSI) appendix B.4.
    [Theory]
    [InlineData("123456789", 0xE3069283u)]
    [InlineData("", 0x00000000u)]
    [InlineData("a", 0xC1D04330u)]
    [InlineData("The quick brown fox jumps over the lazy dog", 0x22620404u)]
    public void Compute_MatchesKnownVectors_ForText(string text, uint expected)
    {
        Assert.Equal(expected, Crc32C.Compute(Encoding.ASCII.GetBytes(text)));
    }

    public static TheoryData<string, uint> Rfc3720Vectors() => new()
    {
        { "32 bytes of zeros", 0x8A9136AAu },
        { "32 bytes of 0xFF", 0x62A8AB43u },
        { "32 incrementing bytes 00..1F", 0x46DD794Eu },
        { "32 decrementing bytes 1F..00", 0x113FDB5Cu },
    };

    [Theory]
    [MemberData(nameof(Rfc3720Vectors))]
    public void Compute_MatchesRfc3720Vectors(string vector, uint expected)
    {
        byte[] data = vector switch
        {
            "32 bytes of zeros" => new byte[32],
            "32 bytes of 0xFF" => Enumerable.Repeat((byte)0xFF, 32).ToArray(),
            "32 incrementing bytes 00..1F" => Enumerable.Range(0, 32).Select(i => (byte)i).ToArray(),
            "32 decrementing bytes 1F..00" => Enumerable.Range(0, 32).Select(i => (byte)(31 - i)).ToArray(),
            _ => throw new ArgumentOutOfRangeException(nameof(vector)),
        };

        Assert.Equal(expected, Crc32C.Compute(data));
    }

    // The implementation eats 8 bytes at a time and then a byte tail: every length 0..100, and
    // unaligned starts, agree with a plain bit-at-a-time reference (reflected polynomial 0x82F63B78).
    [Theory]
    [InlineData(1)]
    [InlineData(2024)]
    public void Compute_AgreesWithABitwiseReference_ForEveryLengthAndAlignment(int seed)
    {
        var random = new Random(seed);
        var data = new byte[110];
        random.NextBytes(data);

        for (var start = 0; start < 8; start++)
        for (var length = 0; length <= 100; length++)
        {
            var slice = data.AsSpan(start, length);
            Assert.True(Reference(slice) == Crc32C.Compute(slice), $"seed {seed}, start {start}, length {length}");
        }
    }

    [Fact]
    public void Compute_DetectsEverySingleBitFlip()
    {
        var data = Encoding.ASCII.GetBytes("currentTerm=7 votedFor=n3");
        var good = Crc32C.Compute(data);

        for (var i = 0; i < data.Length * 8; i++)
        {
            data[i / 8] ^= (byte)(1 << (i % 8));
            Assert.NotEqual(good, Crc32C.Compute(data));
            data[i / 8] ^= (byte)(1 << (i % 8));
        }
    }

    private static uint Reference(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }

        return ~crc;
    }
}
