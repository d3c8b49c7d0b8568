using System.Numerics;

namespace RaftActors.Storage;

/// <summary>CRC-32C (Castagnoli), hardware-accelerated where the CPU offers it.</summary>
public static class Crc32C
{
    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
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
