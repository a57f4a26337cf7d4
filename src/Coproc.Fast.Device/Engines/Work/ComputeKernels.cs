using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Coproc.Fast.Device.Engines.Work;

/// <summary>
/// The arithmetic of the DISPATCH kernels over native memory (one page run at a time). Every element's result is
/// independent of where runs, groups or interruptions split the work: element-wise kernels compute each element
/// alone (vector and scalar paths run the same IEEE operations in the same order), and the running kernels keep
/// their whole state in one accumulator the caller saves in <see cref="WorkState"/>.
/// </summary>
internal static unsafe class ComputeKernels
{
    /// <summary>y[i] = a·x[i] + y[i] (multiply rounded, then add rounded); x == null reads zeros.</summary>
    public static void Saxpy(float* y, float* x, float a, nuint n)
    {
        nuint i = 0;
        if (x == null)
        {
            for (; i < n; i++) y[i] = a * 0f + y[i];
            return;
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(a);
            for (; i + (nuint)Vector256<float>.Count <= n; i += (nuint)Vector256<float>.Count)
                Vector256.Store(Vector256.Add(Vector256.Multiply(va, Vector256.Load(x + i)), Vector256.Load(y + i)), y + i);
        }
        for (; i < n; i++) y[i] = a * x[i] + y[i];
    }

    /// <summary>Adds n uint32 values to a 64-bit sum.</summary>
    public static ulong SumU32(uint* x, nuint n, ulong sum)
    {
        nuint i = 0;
        if (Vector256.IsHardwareAccelerated && n >= 16)
        {
            // Integer addition is associative, so widening lanes give exactly the scalar sum.
            var acc = Vector256<ulong>.Zero;
            for (; i + 8 <= n; i += 8)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(x + i));
                acc += lo + hi;
            }
            sum += Vector256.Sum(acc);
        }
        for (; i < n; i++) sum += x[i];
        return sum;
    }

    /// <summary>Adds n float32 values, in order, to a float64 sum (order fixed so results never depend on splitting).</summary>
    public static double SumF32(float* x, nuint n, double sum)
    {
        for (nuint i = 0; i < n; i++) sum += x[i];
        return sum;
    }

    /// <summary>Continues a CRC-32C over n bytes (x == null reads zeros). <paramref name="crc"/> is the raw (non-inverted) register.</summary>
    public static uint Crc32C(byte* x, nuint n, uint crc)
    {
        nuint i = 0;
        if (x == null)
        {
            for (; i + 8 <= n; i += 8) crc = BitOperations.Crc32C(crc, 0UL);
            for (; i < n; i++) crc = BitOperations.Crc32C(crc, (byte)0);
            return crc;
        }
        for (; i + 8 <= n; i += 8) crc = BitOperations.Crc32C(crc, Unsafe.ReadUnaligned<ulong>(x + i));
        for (; i < n; i++) crc = BitOperations.Crc32C(crc, x[i]);
        return crc;
    }

    /// <summary>Inclusive prefix sum: y[i] = (sum += x[i]); x == null reads zeros, y == null discards.</summary>
    public static uint PrefixSum(uint* y, uint* x, nuint n, uint sum)
    {
        if (x == null)
        {
            if (y != null) new Span<uint>(y, (int)n).Fill(sum);
            return sum;
        }
        if (y == null)
        {
            for (nuint i = 0; i < n; i++) sum += x[i];
            return sum;
        }
        for (nuint i = 0; i < n; i++) y[i] = sum += x[i];
        return sum;
    }
}
