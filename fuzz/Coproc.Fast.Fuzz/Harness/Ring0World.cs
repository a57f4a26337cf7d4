using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Fuzz.Harness;

/// <summary>
/// A deterministic machine shared by an attacker process and two victims, set up the way isolation defects
/// need it: contexts first, then local memory fragmented into 4 KiB holes between a bystander's allocations, so the
/// allocations made after (attacker's and victim's) come in several physical extents. The attacker also holds
/// handles it freed (stale) and knows the victims' handles. Everything a victim owns sits in a <see cref="VictimLedger"/>.
/// </summary>
internal sealed class Ring0World : IDisposable
{
    public const uint Attacker = 1, Victim = 2, Bystander = 3;
    public const ulong BigBytes = 64 * 1024;

    public Ring0World(ulong timeoutCycles = 5_000_000)
    {
        Machine = new Machine(new MachineOptions
        {
            Device = new CoprocessorOptions { LocalMemoryBytes = 8UL << 20, SystemMemoryBytes = 32UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0 },
            Scheduler = new VidSchOptions { QuantumCycles = 200_000, TimeoutCycles = timeoutCycles },
            ScheduledEngines = [EngineKind.Render, EngineKind.Copy],
            Gate = new Ring0GateOptions { Policy = Ring0GatePolicy.None },
            Mode = MachineRunMode.Deterministic,
        });
        var kmd = Machine.Kmd;
        AttackerContexts = [Machine.CreateContext(Attacker, 0, EngineKind.Render), Machine.CreateContext(Attacker, 0, EngineKind.Copy)];
        VictimContext = Machine.CreateContext(Victim, 0, EngineKind.Render);
        VictimCopyContext = Machine.CreateContext(Victim, 0, EngineKind.Copy);

        // Fragment local memory: a bystander takes every 4 KiB page it can, then gives every other one back.
        // COPROC_FUZZ_UNFRAGMENTED=1 leaves it whole — only to explore past a known multi-extent failure, never in CI.
        var pages = new List<AllocationHandle>();
        bool fragment = Environment.GetEnvironmentVariable("COPROC_FUZZ_UNFRAGMENTED") != "1";
        for (int n = 0; fragment || n < 2; n++)
        {
            try { pages.Add(kmd.Allocate(Bystander, 4096, PlacementHint.LocalOnly)); }
            catch (VidMmException) { break; }
        }
        lock (Machine.Scheduler.KernelLock)
            for (int i = 0; i < pages.Count && fragment; i += 2)
            {
                Machine.VidMm.Free(pages[i]);
                kmd.Process(Bystander).Disown(pages[i]);
            }
        Ledger = new VictimLedger(Machine);
        for (int i = 1; i < pages.Count; i += 2)
        {
            Ledger.FillCounting(pages[i], 0xB0000000u | (uint)i);
            Ledger.Add($"bystander.page{i}", pages[i]);
        }

        AttackerAllocations = [kmd.Allocate(Attacker, 8192), kmd.Allocate(Attacker, BigBytes), kmd.Allocate(Attacker, 4096, PlacementHint.SystemOnly)];
        VictimBig = kmd.Allocate(Victim, BigBytes);
        VictimSmall = kmd.Allocate(Victim, 4096, PlacementHint.SystemOnly);
        Ledger.FillCounting(VictimBig, 0x5A5A0000);
        Ledger.FillCounting(VictimSmall, 0x5B5B0000);
        Ledger.Add("victim.big", VictimBig);
        Ledger.Add("victim.small", VictimSmall);
        Ledger.Add("victim.render", VictimContext);
        Ledger.Add("victim.copy", VictimCopyContext);
        // Stale handles: the attacker's own allocations, freed (the KMD's table still lists them).
        var stale = kmd.Allocate(Attacker, 4096);
        lock (Machine.Scheduler.KernelLock) Machine.VidMm.Free(stale);
        StaleHandles = [stale];
        KnownHandles = [.. AttackerAllocations, .. StaleHandles, VictimBig, VictimSmall, pages[1], default, new AllocationHandle(999, 7)];
    }

    public Machine Machine { get; }
    public VidSchContext[] AttackerContexts { get; }
    public VidSchContext VictimContext { get; }
    public VidSchContext VictimCopyContext { get; }
    public AllocationHandle[] AttackerAllocations { get; }
    public AllocationHandle[] StaleHandles { get; }
    public AllocationHandle VictimBig { get; }
    public AllocationHandle VictimSmall { get; }
    /// <summary>Every handle the attacker may name: its own, stale ones, victims', null and invented.</summary>
    public AllocationHandle[] KnownHandles { get; }
    public VictimLedger Ledger { get; }
    public List<(VidSchContext Context, long Id)> Outstanding { get; } = new();
    private uint _freshJobs;

    public string NameOf(AllocationHandle h)
    {
        if (h.IsNull) return "default";
        int a = Array.IndexOf(AttackerAllocations, h);
        if (a >= 0) return $"attacker[{a}] ({Machine.VidMm.SizeOf(h)} bytes)";
        if (Array.IndexOf(StaleHandles, h) >= 0) return "stale (freed) attacker handle";
        if (h == VictimBig) return "victim.big";
        if (h == VictimSmall) return "victim.small";
        return h.ToString();
    }

    /// <summary>Submits for the attacker; true when accepted. A documented rejection returns false with its reason.</summary>
    public bool Submit(int context, ReadOnlySpan<uint> commands, ReadOnlySpan<ResourceReference> resources, out CommandBufferRejection reason)
    {
        reason = 0;
        try
        {
            long id = Machine.Kmd.Submit(Attacker, AttackerContexts[context], commands, resources);
            Outstanding.Add((AttackerContexts[context], id));
            return true;
        }
        catch (CommandBufferRejectedException e)
        {
            reason = e.Reason;
            return false;
        }
    }

    /// <summary>
    /// Runs until idle and applies the oracle: idle within the bound (no wedged engine), no submission left pending,
    /// no victim byte, PTE or ring changed. Null when all holds, else the broken promise.
    /// </summary>
    public string? RunAndCheck(ulong maxCycles = 2_000_000_000)
    {
        bool idle;
        try { idle = Machine.RunUntilIdle(maxCycles); }
        catch (Exception e) { return $"host exception from RunUntilIdle: {e.GetType().FullName}: {e.Message}"; }
        if (!idle) return $"machine not idle after {maxCycles} cycles (an engine is wedged)";
        foreach (var (ctx, id) in Outstanding)
            if (ctx.StatusOf(id) == SubmissionStatus.Pending) return $"submission {id} on context {ctx.Id} still Pending while the machine says idle";
        Outstanding.Clear();
        return Ledger.FindChange();
    }

    /// <summary>
    /// A fresh valid job of the victim: FILL its whole multi-extent allocation with a new pattern and WRITE_DATA a
    /// marker into the small one, on both engines; then every byte must be right and nothing else changed.
    /// </summary>
    public string? FreshJob()
    {
        uint pattern = 0x600D0000u | ++_freshJobs;
        var sink = new CapturingSink();
        var b = new CommandBufferBuilder(sink, 1024, 64);
        b.Fill(VictimBig, 0, pattern, BigBytes);
        b.Flush();
        long fill, write;
        try
        {
            fill = Machine.Kmd.Submit(Victim, VictimContext, sink.Commands, sink.References);
            b.WriteData(VictimSmall, 16, [pattern]);
            b.Flush();
            write = Machine.Kmd.Submit(Victim, VictimCopyContext, sink.Commands, sink.References);
        }
        catch (Exception e) { return $"the victim's valid submission was refused: {e.GetType().Name}: {e.Message}"; }
        bool idle;
        try { idle = Machine.RunUntilIdle(1_000_000_000); }
        catch (Exception e) { return $"host exception while the fresh job ran: {e.GetType().FullName}: {e.Message}"; }
        if (!idle) return "the fresh job did not finish: the machine never went idle";
        if (VictimContext.StatusOf(fill) != SubmissionStatus.Completed) return $"the fresh FILL ended {VictimContext.StatusOf(fill)}";
        if (VictimCopyContext.StatusOf(write) != SubmissionStatus.Completed) return $"the fresh WRITE_DATA ended {VictimCopyContext.StatusOf(write)}";
        var big = Ledger.ReadAllocation(VictimBig);
        for (int i = 0; i < big.Length; i += 4)
            if (BitConverter.ToUInt32(big, i) != pattern)
                return $"the fresh FILL of the victim's {VictimBig} ({Machine.VidMm.ExtentsOf(VictimBig).Length} extents) left byte 0x{i:X} unwritten";
        if (BitConverter.ToUInt32(Ledger.ReadAllocation(VictimSmall), 16) != pattern) return "the fresh WRITE_DATA did not land";
        Ledger.Update(VictimBig);
        Ledger.Update(VictimSmall);
        string? change = Ledger.FindChange(includeRings: false);
        Ledger.Refresh(); // the victim's own kernel rings moved legitimately
        return change;
    }


    public void Dispose() => Machine.Dispose();
}

/// <summary>A UMD sink that keeps a copy of the last flushed buffer.</summary>
internal sealed class CapturingSink : ICommandBufferSink
{
    public uint[] Commands = [];
    public ResourceReference[] References = [];

    public void Submit(ReadOnlySpan<uint> commands, ReadOnlySpan<ResourceReference> resources)
    {
        Commands = commands.ToArray();
        References = resources.ToArray();
    }
}
