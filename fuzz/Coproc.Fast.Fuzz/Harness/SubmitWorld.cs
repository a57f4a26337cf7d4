using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Fuzz.Harness;

/// <summary>
/// One deterministic machine of any scheduling model for the <c>submit</c> campaign: an attacker, a victim and a
/// bystander, each with contexts from <see cref="Machine.OpenContext"/>, and a fixed table of allocation handles the
/// attacker may name — its own, one the victim shares with it (until taken back), the victim's and the bystander's,
/// stale ones (freed behind the KMD's record, or freed and disowned), invented ones, the null handle and a victim handle
/// of the wrong generation. Managed (evictable) allocations where the model has them (basic, advanced). The victims'
/// bytes sit in a <see cref="VictimLedger"/>; the attacker's own allocations are snapshotted so that writes outside the
/// ranges its accepted recordings named can be seen.
/// </summary>
internal sealed class SubmitWorld : IDisposable
{
    public const uint Attacker = 1, Victim = 2, Bystander = 3;
    public const int VictimPriority = 1;

    // The handle table (indices used by the campaign's plans).
    public const int A0 = 0, A1 = 1, Counters = 2, Witness = 3, AManaged = 4, A3 = 5, VShared = 6, V0 = 7, V1 = 8, VManaged = 9,
        B0 = 10, B1 = 11, StaleBehindRecord = 12, StaleDisowned = 13, Invented = 14, Null = 15, V0WrongGeneration = 16, VNew = 17, HandleCount = 18;

    /// <summary>Handles of the attacker's own allocations (and the share while it lasts), whose writes are range-checked.</summary>
    public static readonly int[] AttackerSide = [A0, A1, Counters, Witness, AManaged, A3, VShared];

    /// <summary>Bytes of each table entry (the size the KMD's record gives, or what the plan assumes for a handle without one).</summary>
    public static ulong SizeOf(int index, bool bigManaged) => index switch
    {
        A0 => 4096, A1 => 64 << 10, Counters => 4096, Witness => 4096, AManaged => bigManaged ? 3UL << 20 : 256 << 10, A3 => 8192,
        VShared => 8192, V0 => VictimFillBytes + 4096, V1 => 4096, VManaged => bigManaged ? 1UL << 20 : 64 << 10, B0 => 16 << 10, B1 => 4096,
        StaleBehindRecord => 4096, StaleDisowned => 8192, VNew => 4096, _ => 4096,
    };

    public const ulong VictimFillBytes = 16 << 10;

    private readonly AllocationHandle[] _handles = new AllocationHandle[HandleCount];
    private readonly Dictionary<AllocationHandle, byte[]> _attackerBytes = new();
    private readonly Dictionary<AllocationHandle, List<(ulong From, ulong To)>> _allowed = new();
    private readonly List<(AllocationHandle Handle, ulong Offset)> _waits = new();
    private uint _serial;
    private Machine? _foreign;
    private GpuContext? _foreignContext;

    public SubmitWorld(SchedulingModel model, int attackerPriority, bool bigManaged)
    {
        Model = model;
        BigManaged = bigManaged;
        Machine = new Machine(Options(model, 4UL << 20));
        var kmd = Machine.Kmd;
        Managed = model != SchedulingModel.Hardware; // the hardware model's queues use pinned memory only (docs/models.md)
        VidSchContext? attackerKernel = null, victimKernel = null;
        if (Managed)
        {
            // Managed allocations live in a kernel-path context's working set (Machine.AllocateManaged).
            attackerKernel = Machine.CreateContext(Attacker, 0, EngineKind.Compute);
            victimKernel = Machine.CreateContext(Victim, 0, EngineKind.Compute);
        }
        AttackerContexts = [Machine.OpenContext(Attacker, attackerPriority), Machine.OpenContext(Attacker, 0, EngineKind.Copy)];
        VictimContext = Machine.OpenContext(Victim, VictimPriority);
        BystanderContext = Machine.OpenContext(Bystander, 0);

        AllocationHandle Pinned(uint process, int index, PlacementHint placement = PlacementHint.PreferLocal, AllocationFlags flags = AllocationFlags.None) =>
            kmd.Allocate(process, SizeOf(index, bigManaged), placement, flags);
        _handles[A0] = Pinned(Attacker, A0, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        _handles[A1] = Pinned(Attacker, A1);
        _handles[Counters] = Pinned(Attacker, Counters, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        _handles[Witness] = Pinned(Attacker, Witness, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        _handles[AManaged] = Managed ? Machine.AllocateManaged(Attacker, attackerKernel!, SizeOf(AManaged, bigManaged)) : Pinned(Attacker, AManaged, PlacementHint.SystemOnly);
        _handles[A3] = Pinned(Attacker, A3);
        _handles[VShared] = Pinned(Victim, VShared, PlacementHint.LocalOnly);
        kmd.Process(Attacker).Own(_handles[VShared], SizeOf(VShared, bigManaged)); // shared with the attacker
        IsShared = true;
        _handles[V0] = Pinned(Victim, V0);
        _handles[V1] = Pinned(Victim, V1, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        _handles[VManaged] = Managed ? Machine.AllocateManaged(Victim, victimKernel!, SizeOf(VManaged, bigManaged)) : Pinned(Victim, VManaged);
        _handles[B0] = Pinned(Bystander, B0);
        _handles[B1] = Pinned(Bystander, B1, PlacementHint.SystemOnly);
        _handles[StaleBehindRecord] = Pinned(Attacker, StaleBehindRecord);
        _handles[StaleDisowned] = Pinned(Attacker, StaleDisowned);
        lock (Machine.Scheduler.KernelLock)
        {
            Machine.VidMm.Free(_handles[StaleBehindRecord]); // freed behind the KMD's record: the record still names it
            Machine.VidMm.Free(_handles[StaleDisowned]);
        }
        kmd.Process(Attacker).Disown(_handles[StaleDisowned]);
        _handles[Invented] = new AllocationHandle(999, 7);
        _handles[Null] = default;
        _handles[V0WrongGeneration] = new AllocationHandle(_handles[V0].Index, _handles[V0].Generation + 1);
        _handles[VNew] = new AllocationHandle(_handles[V0].Index + 1000, 3); // until the victim allocates it

        Ledger = new VictimLedger(Machine);
        uint seed = 0x5A000000;
        foreach (var (name, i) in new[] { ("victim.v0", V0), ("victim.v1", V1), ("victim.managed", VManaged), ("bystander.b0", B0), ("bystander.b1", B1) })
        {
            Ledger.FillCounting(_handles[i], seed += 0x10000);
            Ledger.Add(name, _handles[i], pageTables: !(Managed && i == VManaged));
        }
        Ledger.FillCounting(_handles[VShared], 0x5C000000);
        foreach (int i in AttackerSide) if (i != VShared) Ledger.FillCounting(_handles[i], 0xA0000000u | ((uint)i << 16));
        ClearCpu(_handles[Counters]);
        ClearCpu(_handles[Witness]);
        SnapshotAttacker();
    }

    private static MachineOptions Options(SchedulingModel model, ulong localBytes) => new()
    {
        Model = model,
        Device = new CoprocessorOptions { LocalMemoryBytes = localBytes, SystemMemoryBytes = 24UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0 },
        Scheduler = new VidSchOptions { QuantumCycles = 200_000, TimeoutCycles = 5_000_000 },
        RunLists = new RunListOptions { TimeoutCycles = 50_000_000 },
        Gate = new Ring0GateOptions { Policy = Ring0GatePolicy.None },
        Mode = MachineRunMode.Deterministic,
    };

    public SchedulingModel Model { get; }
    public bool BigManaged { get; }
    public bool Managed { get; }
    public Machine Machine { get; }
    public GpuContext[] AttackerContexts { get; }
    /// <summary>Attacker queues unregistered by the campaign (hardware model): naming them must be refused.</summary>
    public List<GpuContext> DeadContexts { get; } = new();
    public GpuContext VictimContext { get; }
    public GpuContext BystanderContext { get; }
    public VictimLedger Ledger { get; }
    public bool IsShared { get; private set; }
    public bool SharedFreed { get; private set; }
    public bool A3Freed { get; private set; }
    public bool VNewAllocated { get; private set; }

    public AllocationHandle Handle(int index) => _handles[index];

    /// <summary>What the table calls <paramref name="index"/>, for reproducers.</summary>
    public static string NameOf(int index) => index switch
    {
        A0 => "attacker.a0", A1 => "attacker.a1", Counters => "attacker.counters", Witness => "attacker.witness", AManaged => "attacker.managed",
        A3 => "attacker.a3", VShared => "victim.shared", V0 => "victim.v0", V1 => "victim.v1", VManaged => "victim.managed", B0 => "bystander.b0",
        B1 => "bystander.b1", StaleBehindRecord => "stale(freed behind record)", StaleDisowned => "stale(freed, disowned)", Invented => "invented(999,7)",
        Null => "null", V0WrongGeneration => "victim.v0(wrong generation)", VNew => "victim.new", _ => $"#{index}",
    };

    /// <summary>True when the attacker may name <paramref name="h"/> now: the KMD's record names it and VidMm holds it (docs/models.md).</summary>
    public bool AttackerMayUse(AllocationHandle h, out ulong bytes)
    {
        bytes = 0;
        return Machine.Kmd.Process(Attacker).TryGetSize(h, out bytes) && Machine.VidMm.IsLive(h);
    }

    /// <summary>A context of another machine of the same model (made on first use).</summary>
    public GpuContext ForeignContext()
    {
        if (_foreignContext is null)
        {
            _foreign = new Machine(Options(Model, 2UL << 20));
            _foreignContext = _foreign.OpenContext(Attacker);
        }
        return _foreignContext;
    }

    /// <summary>Hardware model: unregisters attacker queue <paramref name="slot"/> and opens a new one in its place.</summary>
    public void ReplaceQueue(int slot)
    {
        if (AttackerContexts[slot] is not UserQueueContext q) return;
        if (!q.IsUnregistered) Machine.UserQueues.Unregister(q.Registration);
        DeadContexts.Add(q);
        AttackerContexts[slot] = Machine.OpenContext(Attacker, q.Priority, q.Engine);
    }

    // --- the attacker's own memory: writes only inside the ranges its accepted recordings named ---

    /// <summary>Records that an accepted recording (or the harness on the attacker's behalf) may write [from, to) of <paramref name="h"/>.</summary>
    public void Allow(AllocationHandle h, ulong from, ulong to)
    {
        if (!_allowed.TryGetValue(h, out var list)) _allowed.Add(h, list = new());
        list.Add((from & ~3UL, (to + 3) & ~3UL)); // a device writes whole dwords
    }

    /// <summary>A WAIT an accepted recording queued (released before the machine must go idle).</summary>
    public void NoteWait(AllocationHandle h, ulong offset) => _waits.Add((h, offset));

    public void SnapshotAttacker()
    {
        _attackerBytes.Clear();
        _allowed.Clear();
        foreach (int i in AttackerSide)
        {
            var h = _handles[i];
            if (i == VShared && !IsShared) continue;
            if (i == A3 && A3Freed) continue;
            _attackerBytes[h] = Ledger.ReadAllocation(h);
        }
    }

    /// <summary>Null when every byte of the attacker's memory that changed lies in a range an accepted recording named.</summary>
    public string? FindStrayWrite()
    {
        foreach (var (h, before) in _attackerBytes)
        {
            if (!Machine.VidMm.IsLive(h)) continue;
            var now = Ledger.ReadAllocation(h);
            _allowed.TryGetValue(h, out var ranges);
            for (int b = 0; b < Math.Min(before.Length, now.Length); b++)
            {
                if (before[b] == now[b]) continue;
                bool ok = false;
                if (ranges is not null)
                    foreach (var (from, to) in ranges)
                        if ((ulong)b >= from && (ulong)b < to) { ok = true; break; }
                if (!ok)
                    return $"{NameOf(Array.IndexOf(_handles, h))} ({h}) changed at byte 0x{b:X} (0x{before[b]:X2} -> 0x{now[b]:X2}), which no accepted recording named";
            }
        }
        return null;
    }

    // --- checkpoints ---

    /// <summary>
    /// Satisfies the WAITs the attacker queued on its own pinned memory (as its CPU would), rings its queues, and runs the
    /// machine until idle, within <paramref name="maxCycles"/> in all. Null when idle, else what went wrong.
    /// </summary>
    public string? ReleaseAndRunUntilIdle(ulong maxCycles)
    {
        for (int round = 0; round < 8; round++)
        {
            foreach (var (h, offset) in _waits)
            {
                if (!AttackerMayUse(h, out ulong size) || (Machine.VidMm.FlagsOf(h) & AllocationFlags.Evictable) != 0) continue;
                for (ulong k = 0; k < 4 && offset + k < size; k++)
                    Machine.Device.Memory.GetSpan(Machine.VidMm.PhysicalAddressOf(h, offset + k), 1)[0] = k == 3 ? (byte)0x40 : (byte)0;
                Allow(h, offset, offset + 4);
            }
            foreach (var c in AttackerContexts)
                if (c is UserQueueContext { IsUnregistered: false } q)
                    Machine.Device.DoorbellAperture.Write32(DoorbellAperture.PageOffset(q.Registration.Doorbell), 1, Attacker);
            bool idle;
            try { idle = Machine.RunUntilIdle(maxCycles / 8); }
            catch (Exception e) { return $"host exception from RunUntilIdle: {e.GetType().FullName}: {e.Message}"; }
            if (idle)
            {
                _waits.Clear();
                return null;
            }
        }
        return $"machine not idle after {maxCycles} cycles with every attacker WAIT satisfied (a wedged engine): {BusyParts()}";
    }

    // What keeps the machine busy, for the report.
    private string BusyParts()
    {
        var parts = new List<string>();
        if (Machine.Paging.HasWork) parts.Add("paging has work");
        for (int e = 0; e < Machine.Schedulers.Count; e++)
            if (Machine.Schedulers[e] is { IsIdle: false }) parts.Add($"{(EngineKind)e} scheduler busy");
        if (Model == SchedulingModel.Advanced) parts.Add($"run lists: {string.Join(", ", Machine.Contexts.OfType<VaContext>().Select(c => $"ctx {c.Id} {c.State}"))}");
        foreach (var c in Machine.Contexts.OfType<UserQueueContext>()) parts.Add($"queue {c.Id} stopped {c.IsStopped}");
        parts.Add($"interrupts dropped (INFO_DROPPED) {Machine.Device.Mmio.Read32(Coproc.Fast.Device.Mmio.MmioMap.InterruptBase + Coproc.Fast.Device.Interrupts.InterruptRegisters.InfoDropped)}");
        parts.Add($"engine states: {string.Join(", ", Enumerable.Range(0, Engines.Count).Select(e => $"{(EngineKind)e} 0x{Machine.Device.Mmio.Read32(Coproc.Fast.Device.Mmio.MmioMap.EngineBase + (uint)e * 0x80 + 0x20):X}"))}");
        return string.Join("; ", parts);
    }

    /// <summary>
    /// The victim's fresh job through <see cref="Machine.TrySubmit"/>: FILL its allocation, COPY a page of its managed
    /// allocation after it, WRITE_DATA and FENCE its system page; it must finish within the bound with every byte right,
    /// whatever the attacker queued (nothing is released first). Null when right.
    /// </summary>
    public string? FreshJob(ulong maxCycles)
    {
        ulong serial = ++_serial;
        uint pattern = 0x600D0000u | (uint)serial;
        ulong page = (serial % (SizeOf(VManaged, BigManaged) / 4096)) * 4096;
        AllocationHandle v0 = _handles[V0], v1 = _handles[V1], vm = _handles[VManaged];
        var source = Ledger.ReadAllocation(vm).AsSpan((int)page, 4096).ToArray();
        bool queued;
        try
        {
            queued = Machine.TrySubmit(VictimContext, r =>
            {
                r.Fill(v0, 0, pattern, VictimFillBytes);
                r.Copy(v0, VictimFillBytes, vm, page, 4096);
                r.WriteData(v1, 64, pattern);
                r.Fence(v1, 0, serial);
            });
        }
        catch (Exception e) { return $"the victim's valid recording was refused: {e.GetType().FullName}: {e.Message}"; }
        if (!queued) return "the victim's valid recording found no room although its earlier jobs had finished";
        var fence = Machine.VidMm.PhysicalAddressOf(v1, 0);
        bool done;
        try { done = Machine.RunUntil(() => Machine.Device.Memory.Read64(fence) == serial, maxCycles); }
        catch (Exception e) { return $"host exception while the fresh job ran: {e.GetType().FullName}: {e.Message}"; }
        if (!done) return $"the victim's fresh job did not finish in {maxCycles} cycles (fence {Machine.Device.Memory.Read64(fence)}, want {serial}; victim context stopped: {VictimContext.IsStopped})";
        var bytes = Ledger.ReadAllocation(v0);
        for (int i = 0; i < (int)VictimFillBytes; i += 4)
            if (BitConverter.ToUInt32(bytes, i) != pattern) return $"the victim's fresh FILL left byte 0x{i:X} of victim.v0 wrong (0x{BitConverter.ToUInt32(bytes, i):X8})";
        if (!bytes.AsSpan((int)VictimFillBytes, 4096).SequenceEqual(source)) return "the victim's fresh COPY from its managed allocation left wrong bytes";
        if (BitConverter.ToUInt32(Ledger.ReadAllocation(v1), 64) != pattern) return "the victim's fresh WRITE_DATA did not land";
        Ledger.Update(v0);
        Ledger.Update(v1);
        return null;
    }

    /// <summary>The victim takes its share back (<see cref="KmdProcess.Disown"/>); from now on its bytes are ledgered.</summary>
    /// <remarks>
    /// With VA-path work that named the share still queued (<paramref name="vaWorkQueued"/>), a WAIT of it may from now on
    /// read whatever the attacker maps next at the share's VA (the space reuses it): each such counter's offset is then
    /// also satisfied in every one of the attacker's own allocations.
    /// </remarks>
    public void Revoke(bool vaWorkQueued)
    {
        if (!IsShared) return;
        var share = _handles[VShared];
        if (vaWorkQueued)
            foreach (var (h, offset) in _waits.Where(w => w.Handle == share).ToList())
                foreach (int i in AttackerSide)
                    if (i != VShared) _waits.Add((_handles[i], offset));
        Machine.Kmd.Process(Attacker).Disown(_handles[VShared]);
        IsShared = false;
        _attackerBytes.Remove(_handles[VShared]);
        Ledger.Add("victim.shared (taken back)", _handles[VShared]);
    }

    /// <summary>The owner frees the allocation it took back: documented to succeed once every user disowned it.</summary>
    public string? OwnerFreesShared()
    {
        if (IsShared || SharedFreed) return null;
        var h = _handles[VShared];
        string? change = Ledger.FindChange(includeRings: false);
        if (change is not null) return change;
        string? failed = DisownAndFree(Victim, h, "the owner could not free its allocation after taking the share back");
        if (failed is not null) return failed;
        Ledger.Remove(h);
        SharedFreed = true;
        return null;
    }

    /// <summary>The attacker lets go of a3 (Disown) and the kernel frees it: documented to succeed (docs/models.md).</summary>
    public string? FreeA3()
    {
        if (A3Freed) return null;
        var h = _handles[A3];
        string? failed = DisownAndFree(Attacker, h, "freeing the attacker's a3 after it disowned it failed");
        if (failed is not null) return failed;
        _attackerBytes.Remove(h);
        A3Freed = true;
        return null;
    }

    // The process lets go of h and the kernel frees it (documented to succeed once no process holds it); the failure's
    // description, or null.
    private string? DisownAndFree(uint process, AllocationHandle h, string failure)
    {
        Machine.Kmd.Process(process).Disown(h);
        try { lock (Machine.Scheduler.KernelLock) Machine.VidMm.Free(h); }
        catch (Exception e) { return $"{failure}: {e.GetType().FullName}: {e.Message}"; }
        return null;
    }

    /// <summary>The victim allocates a page (perhaps memory the attacker freed): it must read as zeros (Kmd.Allocate).</summary>
    public string? VictimAllocates()
    {
        if (VNewAllocated) return null;
        AllocationHandle h;
        try { h = Machine.Kmd.Allocate(Victim, SizeOf(VNew, BigManaged), PlacementHint.PreferLocal); }
        catch (VidMmException) { return null; } // no room: a documented refusal
        _handles[VNew] = h;
        VNewAllocated = true;
        var bytes = Ledger.ReadAllocation(h);
        int nonZero = Array.FindIndex(bytes, b => b != 0);
        if (nonZero >= 0) return $"the victim's new allocation {h} does not read as zeros (byte 0x{nonZero:X} is 0x{bytes[nonZero]:X2})";
        Ledger.Add("victim.new", h);
        return null;
    }


    private void ClearCpu(AllocationHandle h)
    {
        foreach (var e in Machine.VidMm.ExtentsOf(h)) Machine.VidMm.Memory.GetSpan(e.Address, (int)e.Bytes).Clear();
    }

    public void Dispose()
    {
        Machine.Dispose();
        _foreign?.Dispose();
    }
}
