using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Device.Engines.Work;

/// <summary>Built-in compute kernels of DISPATCH (native-layout.md §8A.3).</summary>
/// <remarks>Called by: guest driver (builds and validates command buffers); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum DispatchKernel : uint
{
    /// <summary>float32 <c>B[i] = a·A[i] + B[i]</c> (multiply, then add: no fused rounding); <c>a</c> = the parameter's bits.</summary>
    Saxpy = 0,
    /// <summary>Sum of uint32 <c>A[i]</c> as a uint64, written to B once every group has run.</summary>
    ReduceSumU32 = 1,
    /// <summary>Sum of float32 <c>A[i]</c>, accumulated in float64 in element order, written to B as a float64.</summary>
    ReduceSumF32 = 2,
    /// <summary>CRC-32C (Castagnoli) of the bytes A[0..count); written to B as a uint32; the parameter is the CRC to continue from (0 to start).</summary>
    Crc32C = 3,
    /// <summary>Inclusive prefix sum of uint32 (wrapping): <c>B[i] = A[0] + … + A[i]</c>; A and B may be the same buffer.</summary>
    PrefixSumU32 = 4,
}

/// <summary>
/// Encoder of DISPATCH (opcode 0x11, compute engine; native-layout.md §8A.3). Layout in dwords:
/// <code>
/// 0     header: opcode 0x11, flags 0, length 9
/// 1     kernel (DispatchKernel)
/// 2     element count (bytes for Crc32C, else 4-byte elements)
/// 3     group size: elements per thread group, 1..65536 — the preemption unit
/// 4..5  buffer A VA (input)
/// 6..7  buffer B VA (in/out for Saxpy, output for PrefixSumU32, result for the reductions and Crc32C)
/// 8     parameter (Saxpy: float32 bits of a; Crc32C: CRC to continue from; others 0)
/// </code>
/// </summary>
/// <remarks>Called by: guest driver (builds and validates command buffers); see docs/embedding.md, "What is public, and who calls it".</remarks>
public static class DispatchPacket
{
    /// <summary>Packet length in dwords.</summary>
    public const int SizeInDwords = 9;

    /// <summary>Largest thread-group size.</summary>
    public const uint MaxGroupSize = 65536;

    /// <summary>Writes the packet; returns the dwords written (9). Allocates nothing.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than 9 dwords.</exception>
    public static int Encode(Span<uint> destination, DispatchKernel kernel, uint elementCount, uint groupSize,
        ulong bufferA, ulong bufferB, uint parameter = 0)
    {
        if (destination.Length < SizeInDwords) throw new ArgumentException($"needs {SizeInDwords} dwords", nameof(destination));
        destination[0] = PacketHeader.Make(Opcode.Dispatch, SizeInDwords);
        destination[1] = (uint)kernel;
        destination[2] = elementCount;
        destination[3] = groupSize;
        destination[4] = (uint)bufferA; destination[5] = (uint)(bufferA >> 32);
        destination[6] = (uint)bufferB; destination[7] = (uint)(bufferB >> 32);
        destination[8] = parameter;
        return SizeInDwords;
    }

    /// <summary>A SAXPY packet (<c>y = a·x + y</c> over float32).</summary>
    public static int EncodeSaxpy(Span<uint> destination, uint elementCount, uint groupSize, ulong x, ulong y, float a) =>
        Encode(destination, DispatchKernel.Saxpy, elementCount, groupSize, x, y, BitConverter.SingleToUInt32Bits(a));
}
