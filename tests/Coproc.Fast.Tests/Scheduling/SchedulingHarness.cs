using Coproc.Fast.Device.Core;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling;

/// <summary>Records scheduling events (the trace a CLI would write).</summary>
internal sealed class TraceRecorder : IScheduleObserver
{
    public List<ScheduleEvent> Events { get; } = new();

    public void OnEvent(in ScheduleEvent e)
    {
        lock (Events) Events.Add(e);
    }

    public IEnumerable<ScheduleEvent> Of(ScheduleEventKind kind) => Events.Where(e => e.Kind == kind);
}

/// <summary>A deterministic machine with the scheduling-only residency stand-in, a trace, and memory helpers.</summary>
internal sealed class SchedulingHarness : IDisposable
{
    public SchedulingHarness(VidSchOptions? scheduler = null, MachineRunMode mode = MachineRunMode.Deterministic,
        Func<VideoMemoryManager, Coprocessor, IResidencyManager>? residency = null, ulong localBytes = 16UL << 20, bool realResidency = false, ulong systemBytes = 32UL << 20,
        Coproc.Fast.Device.Engines.EngineKind[]? engines = null,
        KmdQuotas? quotas = null, ulong interruptLatencyCycles = 2_000, SchedulingModel model = SchedulingModel.Basic,
        Coproc.Fast.Driver.VidSch.RunLists.RunListOptions? runLists = null, Coproc.Fast.Device.Engines.EngineKind? pagingEngine = null)
    {
        Machine = new Machine(new MachineOptions
        {
            Model = model,
            RunLists = runLists ?? new(),
            Device = new CoprocessorOptions { LocalMemoryBytes = localBytes, SystemMemoryBytes = systemBytes, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0 },
            Scheduler = scheduler ?? new VidSchOptions { QuantumCycles = 200_000 },
            Gate = new Ring0GateOptions { Policy = Ring0GatePolicy.Modeled },
            Mode = mode,
            ScheduledEngines = engines ?? new MachineOptions().ScheduledEngines,
            Quotas = quotas ?? new KmdQuotas(),
            InterruptLatencyCycles = interruptLatencyCycles,
            PagingEngine = pagingEngine,
        }, realResidency ? null : residency ?? ((vidmm, _) => new TestResidencyManager(vidmm)));
        Machine.SetObserver(Trace);
    }

    public Machine Machine { get; }
    public TraceRecorder Trace { get; } = new();
    public TestResidencyManager? Residency => Machine.Residency as TestResidencyManager;
    public VidSchScheduler Scheduler => Machine.Scheduler;
    public Kmd Kmd => Machine.Kmd;

    public void Dispose() => Machine.Dispose();

    public AllocationHandle Allocate(uint pid, ulong bytes = 4096, PlacementHint placement = PlacementHint.PreferLocal) =>
        Kmd.Allocate(pid, bytes, placement);

    public byte[] Read(AllocationHandle h)
    {
        var vidmm = Machine.VidMm;
        var bytes = new byte[vidmm.SizeOf(h)];
        int at = 0;
        foreach (var e in vidmm.ExtentsOf(h))
        {
            vidmm.Memory.GetSpan(e.Address, (int)e.Bytes).CopyTo(bytes.AsSpan(at));
            at += (int)e.Bytes;
        }
        return bytes;
    }

    public uint Read32(AllocationHandle h, ulong offset) => BitConverter.ToUInt32(Read(h), (int)offset);

    /// <summary>
    /// Writes the allocation's first bytes the way <see cref="Machine.MapToCpu"/> gives CPU access: only once every paging
    /// transfer recorded so far has executed (a page-in planned but not yet copied would overwrite the write), and under
    /// the kernel lock so no new move is planned meanwhile. Deterministic mode runs the machine while it waits.
    /// </summary>
    public void Write(AllocationHandle h, ReadOnlySpan<byte> data)
    {
        var vidmm = Machine.VidMm;
        for (int attempt = 0; ; attempt++)
        {
            // Failure guard: under steady paging on another engine the snapshot may keep moving; a test that writes
            // while paging never stops is waiting for something that will not come.
            Assert.That(attempt, Is.LessThan(10_000), "paging kept being recorded while the harness waited to write (failure guard)");
            ulong target;
            lock (Scheduler.KernelLock) target = Machine.Paging.LastSubmitted;
            Assert.That(Machine.WaitForPaging(target), Is.True, "recorded paging executed (failure guard)");
            lock (Scheduler.KernelLock)
            {
                if (Machine.Paging.LastSubmitted != target) continue; // another move was planned meanwhile
                int at = 0;
                foreach (var e in vidmm.ExtentsOf(h))
                {
                    if (at >= data.Length) break;
                    int n = Math.Min((int)e.Bytes, data.Length - at);
                    data.Slice(at, n).CopyTo(vidmm.Memory.GetSpan(e.Address, n));
                    at += n;
                }
                return;
            }
        }
    }

    /// <summary>Builds a command buffer with a builder and submits it (one flush); returns the submission id.</summary>
    public long Submit(uint pid, VidSchContext ctx, Action<CommandBufferBuilder> build)
    {
        var sink = new CapturingSink();
        var b = new CommandBufferBuilder(sink, capacityDwords: 16 * 1024, capacityReferences: 1024);
        build(b);
        b.Flush();
        return Kmd.Submit(pid, ctx, sink.Commands, sink.References);
    }

    public static uint Checksum(ReadOnlySpan<byte> bytes)
    {
        uint h = 2166136261;
        foreach (byte x in bytes) h = (h ^ x) * 16777619;
        return h;
    }
}

/// <summary>A sink that keeps the last flushed buffer (copies it: the builder reuses its storage).</summary>
internal sealed class CapturingSink : ICommandBufferSink
{
    public uint[] Commands = [];
    public ResourceReference[] References = [];
    public int Flushes;

    public void Submit(ReadOnlySpan<uint> commands, ReadOnlySpan<ResourceReference> resources)
    {
        Commands = commands.ToArray();
        References = resources.ToArray();
        Flushes++;
    }
}
