using System.Runtime.InteropServices;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Workloads;

/// <summary>
/// The ring-0 submission path through the real driver, for docs/performance.md goal 2 (ring 3 vs ring 0): one entry through
/// the <see cref="Ring0Gate"/> (policy Real: one real system call), copy-in of the command buffer, the KMD's
/// validation (<see cref="KmdValidator"/>: known unprivileged packets, resource list), a copy into a pooled kernel
/// DMA buffer and queueing in VidSch (seed 001 §3.1 steps 5–9) — <see cref="Kmd.Submit"/> on a deterministic
/// <see cref="Machine"/>. Every <see cref="DrainEvery"/> submissions the machine runs until they all executed and
/// retired, so the DMA-buffer pool is reused (no growth, no allocation in steady state); that execution is part of
/// the measured cost (submit → executed, the same work the ring-3 side does when its device thread drains the queue).
/// </summary>
internal sealed class Ring0SubmitPath : IDisposable
{
    /// <summary>Submissions between two drains of the machine.</summary>
    public const int DrainEvery = 64;

    private readonly Machine _machine;
    private readonly VidSchContext _context;
    private int _sinceDrain;

    /// <summary>Creates the machine (deterministic, 16 MiB local, 32 MiB system) and one context of process 1.</summary>
    public Ring0SubmitPath(Ring0GatePolicy policy = Ring0GatePolicy.Real)
    {
        _machine = new Machine(new MachineOptions
        {
            Device = new CoprocessorOptions { LocalMemoryBytes = 16UL << 20, SystemMemoryBytes = 32UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0 },
            Gate = new Ring0GateOptions { Policy = policy },
            Scheduler = new VidSchOptions { DmaBufferDwords = 4096, MaxReferences = 64, RingBytes = 256 * 1024 },
        });
        _context = _machine.CreateContext(1);
    }

    /// <summary>The gate (entry counts).</summary>
    public Ring0Gate Gate => _machine.Gate;

    /// <summary>The machine behind the path.</summary>
    public Machine Machine => _machine;

    /// <summary>The context submissions go to.</summary>
    public VidSchContext Context => _context;

    /// <summary>Submissions accepted.</summary>
    public long Accepted { get; private set; }

    /// <summary>Submissions rejected by validation.</summary>
    public long Rejected { get; private set; }

    /// <summary>
    /// One ring-0 submission of <paramref name="commandBuffer"/> (whole packets, no memory operands) on behalf of
    /// <paramref name="processId"/> (must be 1, the context's owner). Returns false, queuing nothing, when the KMD
    /// rejects it (malformed, privileged, or an operand without a resource-list entry).
    /// </summary>
    public bool SubmitThroughRing0(uint processId, ReadOnlySpan<byte> commandBuffer)
    {
        try
        {
            _machine.Kmd.Submit(processId, _context, MemoryMarshal.Cast<byte, uint>(commandBuffer), ReadOnlySpan<ResourceReference>.Empty);
        }
        catch (CommandBufferRejectedException)
        {
            Rejected++;
            return false;
        }
        Accepted++;
        if (++_sinceDrain >= DrainEvery) Drain();
        return true;
    }

    /// <summary>Runs the machine until everything submitted executed and retired.</summary>
    public void Drain()
    {
        _sinceDrain = 0;
        if (!_machine.RunUntilIdle(1_000_000_000)) throw new InvalidOperationException("the ring-0 path did not retire its submissions");
    }

    /// <summary>A command buffer of <paramref name="bytes"/> (a multiple of 64) made of 16-dword NOP packets.</summary>
    public static byte[] NopCommandBuffer(int bytes)
    {
        if (bytes <= 0 || bytes % 64 != 0) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "expected a positive multiple of 64");
        var buffer = new byte[bytes];
        var dwords = MemoryMarshal.Cast<byte, uint>(buffer.AsSpan());
        for (int i = 0; i < dwords.Length; i += 16) dwords[i] = PacketHeader.Make(Opcode.Nop, 16);
        return buffer;
    }

    public void Dispose() => _machine.Dispose();
}
