using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Device.Engines.Work;

/// <summary>
/// Executes DISPATCH on the compute engine (native-layout.md §8A.3). The unit of work is one thread group.
/// State: Step = next group; SubStep = elements of that group completed before a fault; Scratch0 = the kernel's
/// running value (uint64 sum, float64 bits, CRC-32C XOR parameter, prefix sum), so an interrupted dispatch
/// resumes with exactly the value an uninterrupted one would have had (float results are bit-identical).
/// </summary>
internal static unsafe class DispatchExecutor
{
    public static WorkStatus Execute(in GpuVirtualMemory memory, ReadOnlySpan<uint> packet, ref WorkState state,
        ref long budget, in WorkCosts costs, out WorkFault fault)
    {
        fault = default;
        if (packet.Length != DispatchPacket.SizeInDwords || packet[1] > (uint)DispatchKernel.PrefixSumU32) return WorkStatus.Malformed;
        var kernel = (DispatchKernel)packet[1];
        uint count = packet[2], groupSize = packet[3], parameter = packet[8];
        ulong a = packet[4] | ((ulong)packet[5] << 32), b = packet[6] | ((ulong)packet[7] << 32);
        if (groupSize == 0 || groupSize > DispatchPacket.MaxGroupSize) return WorkStatus.Malformed;
        ulong elementSize = kernel == DispatchKernel.Crc32C ? 1u : 4u;
        ulong resultBytes = kernel switch
        {
            DispatchKernel.Saxpy or DispatchKernel.PrefixSumU32 => count * 4UL,
            DispatchKernel.Crc32C => 4,
            _ => 8,
        };
        if ((b & 3) != 0 || (a & (elementSize - 1)) != 0 || !Fits(a, count * elementSize) || !Fits(b, resultBytes))
            return WorkStatus.Malformed;
        ulong groups = (count + (ulong)groupSize - 1) / groupSize;
        if (state.Step > groups) return WorkStatus.Malformed;

        while (state.Step < groups)
        {
            if (budget <= 0) return WorkStatus.Yielded;
            ulong first = (ulong)state.Step * groupSize;
            ulong n = Math.Min(groupSize, count - first);
            if (state.SubStep > n) return WorkStatus.Malformed; // corrupted save area
            var s = RunGroup(memory, kernel, a, b, first + state.SubStep, n - state.SubStep, elementSize, parameter,
                ref state, out fault);
            if (s != TranslationStatus.Ok) return WorkStatus.Faulted;
            state.Step++;
            state.SubStep = 0;
            budget -= costs.GroupLaunch + WorkCosts.Cycles(n, costs.ElementsPerCycle);
        }
        return WriteResult(memory, kernel, b, parameter, state, out fault);
    }

    private static bool Fits(ulong va, ulong bytes) => va < Surface.VaLimit && bytes <= Surface.VaLimit - va;

    private static WorkStatus WriteResult(in GpuVirtualMemory memory, DispatchKernel kernel, ulong b, uint parameter,
        in WorkState state, out WorkFault fault)
    {
        fault = default;
        TranslationStatus s;
        ulong faultVa;
        switch (kernel)
        {
            case DispatchKernel.ReduceSumU32:
            case DispatchKernel.ReduceSumF32:
                s = memory.Write64(b, state.Scratch0, out faultVa);
                break;
            case DispatchKernel.Crc32C:
                s = memory.Write32(b, (uint)state.Scratch0 ^ parameter, out faultVa);
                break;
            default:
                return WorkStatus.Done;
        }
        if (s == TranslationStatus.Ok) return WorkStatus.Done;
        fault = new WorkFault(faultVa, s); // state stays at Step == groups: a resume retries only the result write
        return WorkStatus.Faulted;
    }

    /// <summary>Runs elements [first, first + n) of one group; on a fault advances SubStep by the elements done.</summary>
    private static TranslationStatus RunGroup(in GpuVirtualMemory memory, DispatchKernel kernel, ulong a, ulong b,
        ulong first, ulong n, ulong elementSize, uint parameter, ref WorkState state, out WorkFault fault)
    {
        fault = default;
        ulong total = n * elementSize, offset = first * elementSize, done = 0;
        bool twoBuffers = kernel is DispatchKernel.Saxpy or DispatchKernel.PrefixSumU32;
        while (done < total)
        {
            ulong va = a + offset + done;
            var s = memory.TranslateRun(va, total - done, AccessKind.Read, out var x);
            if (s != TranslationStatus.Ok) return Fail(ref state, done / elementSize, va, s, out fault);
            void* xp = x.IsDummy ? null : memory.PointerOf(x);
            ulong length = x.Length;
            if (twoBuffers)
            {
                ulong vb = b + offset + done;
                s = memory.TranslateRun(vb, x.Length, AccessKind.Write, out var y);
                if (s != TranslationStatus.Ok) return Fail(ref state, done / elementSize, vb, s, out fault);
                length = y.Length;
                void* yp = y.IsDummy ? null : memory.PointerOf(y);
                if (kernel == DispatchKernel.Saxpy)
                {
                    if (yp != null) ComputeKernels.Saxpy((float*)yp, (float*)xp, BitConverter.UInt32BitsToSingle(parameter), (nuint)(length / 4));
                }
                else state.Scratch0 = ComputeKernels.PrefixSum((uint*)yp, (uint*)xp, (nuint)(length / 4), (uint)state.Scratch0);
                if (yp != null) memory.NoteWritten(y, 0, length);
            }
            else if (kernel == DispatchKernel.ReduceSumU32)
            {
                if (xp != null) state.Scratch0 = ComputeKernels.SumU32((uint*)xp, (nuint)(length / 4), state.Scratch0);
            }
            else if (kernel == DispatchKernel.ReduceSumF32)
            {
                // Dummy pages read as +0.0, and adding +0.0 never changes a sum that started at +0.0.
                if (xp != null)
                    state.Scratch0 = (ulong)BitConverter.DoubleToInt64Bits(
                        ComputeKernels.SumF32((float*)xp, (nuint)(length / 4), BitConverter.Int64BitsToDouble((long)state.Scratch0)));
            }
            else
            {
                // Scratch0 holds the CRC so far XOR the parameter, so a fresh (zero) state starts from the parameter.
                uint register = ~((uint)state.Scratch0 ^ parameter);
                register = ComputeKernels.Crc32C((byte*)xp, (nuint)length, register);
                state.Scratch0 = ~register ^ parameter;
            }
            done += length;
        }
        return TranslationStatus.Ok;
    }

    private static TranslationStatus Fail(ref WorkState state, ulong elementsDone, ulong va, TranslationStatus s, out WorkFault fault)
    {
        state.SubStep += (uint)elementsDone;
        fault = new WorkFault(va, s);
        return s;
    }
}
