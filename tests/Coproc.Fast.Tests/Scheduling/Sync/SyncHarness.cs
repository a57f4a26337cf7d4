using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Rings;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.Sync;

namespace Coproc.Fast.Tests.Scheduling.Sync;

/// <summary>A deterministic machine for synchronization tests: short quanta, a chosen interrupt latency, the event-history log on.</summary>
internal sealed class SyncHarness : IDisposable
{
    public SyncHarness(ulong interruptLatencyCycles = 2_000, ulong quantumCycles = 5_000, ulong timeoutCycles = 2_000_000_000,
        MachineRunMode mode = MachineRunMode.Deterministic)
    {
        Machine = new Machine(new MachineOptions
        {
            Device = new CoprocessorOptions { LocalMemoryBytes = 16UL << 20, SystemMemoryBytes = 32UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0 },
            Scheduler = new VidSchOptions { QuantumCycles = quantumCycles, TimeoutCycles = timeoutCycles },
            Gate = new Ring0GateOptions { Policy = Ring0GatePolicy.Modeled },
            InterruptLatencyCycles = interruptLatencyCycles,
            Mode = mode,
        }, (vidmm, _) => new TestResidencyManager(vidmm));
        Machine.SetEventHistoryLog(Log); // one log for every engine (one kernel lock)
        Machine.SetObserver(Trace);
    }

    public Machine Machine { get; }
    public List<SchedulerEventRecord> Log { get; } = new();
    public TraceRecorder Trace { get; } = new();
    public VidSchScheduler Scheduler => Machine.Scheduler;
    public Kmd Kmd => Machine.Kmd;

    public void Dispose() => Machine.Dispose();

    public AllocationHandle Allocate(uint pid, ulong bytes = 4096) => Kmd.Allocate(pid, bytes);

    public byte[] Read(AllocationHandle h, ulong offset, int bytes)
    {
        var vidmm = Machine.VidMm;
        var all = new byte[vidmm.SizeOf(h)];
        int at = 0;
        foreach (var e in vidmm.ExtentsOf(h))
        {
            vidmm.Memory.GetSpan(e.Address, (int)e.Bytes).CopyTo(all.AsSpan(at));
            at += (int)e.Bytes;
        }
        return all.AsSpan((int)offset, bytes).ToArray();
    }

    public uint Read32(AllocationHandle h, ulong offset) => BitConverter.ToUInt32(Read(h, offset, 4));

    public long Submit(uint pid, VidSchContext ctx, Action<CommandBufferBuilder> build, UserModeCompletionEvent? completion = null)
    {
        var sink = new CapturingSink();
        var b = new CommandBufferBuilder(sink, capacityDwords: 4096, capacityReferences: 256);
        build(b);
        b.Flush();
        return Kmd.Submit(pid, ctx, sink.Commands, sink.References, completion);
    }

    /// <summary>The context's scheduler fence as the device wrote it.</summary>
    public ulong FenceInMemory(VidSchContext ctx) => BitConverter.ToUInt64(Machine.VidMm.Memory.GetSpan(ctx.Fence, 8));

    /// <summary>The ring's write pointer (bytes ever written by the kernel).</summary>
    public ulong RingWritePointer(VidSchContext ctx) => Machine.VidMm.Memory.Local.Ref<RingDescriptor>(ctx.RingDescriptor.Offset).WritePtr;

    public IEnumerable<SchedulerEventRecord> LogOf(VidSchContext ctx) => Log.Where(r => r.ContextId == ctx.Id);
}
