using System.Numerics;

namespace RaftActors.Storage;

/// <summary>CRC-32C (Castagnoli), hardware-accelerated where the CPU offers it.</summary>
internal static class Crc32C
{
    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>
    /// The CRC of the data whose CRC so far is <paramref name="crc"/>, followed by
    /// <paramref name="data"/>: a stream's CRC, piece by piece, starting from 0.
    /// </summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        crc = ~crc;
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BitConverter.ToUInt64(data));
            data = data[8..];
        }

        foreach (var b in data)
            crc = BitOperations.Crc32C(crc, b);
        return ~crc;
    }
}
