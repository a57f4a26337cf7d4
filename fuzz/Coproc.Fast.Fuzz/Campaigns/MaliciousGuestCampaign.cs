using System.Diagnostics;
using System.Text;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Rings;
using Coproc.Fast.Fuzz.Harness;

namespace Coproc.Fast.Fuzz.Campaigns;

/// <summary>
/// A malicious guest driver on the raw device: the <c>Coprocessor</c> alone, no driver. Each case is a burst
/// of register writes and reads (biased to engines, run lists, doorbells, MMU), memory writes (random bytes, and
/// save areas, ring descriptors, rings, page tables and run-list arrays that are nearly right) and doorbell-aperture
/// writes, with device steps between. Oracle: the device never throws into its host — no exception from MMIO, the
/// doorbell aperture or <c>Step</c> (a misaligned register access reads all ones and is counted, native-layout.md §6)
/// — and every 16 cases and at the end, after quiescing the engines, a fresh valid job
/// runs with its bytes right.
/// </summary>
internal sealed class MaliciousGuestCampaign : ICampaign
{
    private const int Slots = 8;
    private const ulong Pool = 1UL << 20; // save areas, descriptors, rings, tables the guest keeps nearly right

    public string Name => "guest";

    public string Description => "random MMIO, memory and doorbell writes against Coprocessor alone; never throws; fresh job right";

    internal static PhysicalAddress SaveArea(int i) => PhysicalAddress.Local(Pool + (ulong)i * 256);
    private static PhysicalAddress Descriptor(int i) => PhysicalAddress.Local(Pool + 0x10000 + (ulong)i * 256);
    private static PhysicalAddress Ring(int i) => PhysicalAddress.Local(Pool + 0x20000 + (ulong)i * 4096);
    private static PhysicalAddress Table(int i) => PhysicalAddress.Local(Pool + 0x40000 + (ulong)i * 4096);
    private static PhysicalAddress Array(int i) => PhysicalAddress.System(0x10000 + (ulong)i * 256);

    public void Run(CampaignSettings settings, CampaignStats stats, Heartbeat heartbeat)
    {
        var clock = Stopwatch.StartNew();
        using var guest = new RawGuest();
        var log = new List<string>();
        var history = new List<FuzzRandom?>(); // every action's generator state since the start; null = a fresh job
        for (long i = 0; i < settings.Iterations && clock.Elapsed < settings.Budget; i++)
        {
            heartbeat.Beat($"case {i}");
            var rng = FuzzRandom.ForCase(settings.Seed, i);
            log.Clear();
            int actions = 8 + rng.Below(32);
            for (int a = 0; a < actions; a++)
            {
                string action = "";
                history.Add(rng);
                try
                {
                    action = Act(ref rng, guest, stats);
                    log.Add(action);
                }
                catch (Exception e)
                {
                    log.Add(_pending);
                    throw new CampaignFailure(i, $"the device threw {e.GetType().FullName} into its host: {e.Message}",
                        Minimize(history, Signature(e)) ?? Reproducer(log), e);
                }
            }
            stats.Cases++;
            if ((i + 1) % 16 == 0) { Fresh(guest, stats, i, log); history.Add(null); }
        }
        Fresh(guest, stats, -1, log);
        for (int e = 0; e < Coproc.Fast.Device.Engines.Engines.Count; e++)
        {
            var cp = guest.Device.Engine((Coproc.Fast.Device.Engines.EngineKind)e);
            stats.Count("packets executed", cp.PacketsExecuted);
            stats.Count("context switches", cp.SwitchCount);
        }
    }

    private static void Fresh(RawGuest guest, CampaignStats stats, long i, List<string> log)
    {
        string? broken;
        bool inconclusive;
        try
        {
            guest.Quiesce();
            broken = guest.FreshJob(out inconclusive);
        }
        catch (Exception e)
        {
            throw new CampaignFailure(i, $"the device threw {e.GetType().FullName} while quiescing / running the fresh job: {e.Message}", Reproducer(log), e);
        }
        if (broken is not null) throw new CampaignFailure(i, "fresh valid job: " + broken, Reproducer(log));
        stats.Count(inconclusive ? "fresh jobs skipped (every engine locked by the guest)" : "fresh jobs right");
    }

    private static string Signature(Exception e) => e.GetType().FullName + " at " + (e.StackTrace ?? "").Split('\n').FirstOrDefault()?.Trim();

    // Replays the actions (each from its saved generator state) on a fresh guest; the signature of what it throws, or null.
    private static string? Replay(List<FuzzRandom?> actions, List<string>? descriptions = null)
    {
        using var guest = new RawGuest();
        var scratch = new CampaignStats();
        foreach (var saved in actions)
        {
            try
            {
                if (saved is not { } state) { guest.Quiesce(); guest.FreshJob(out _); descriptions?.Add("Quiesce(); FreshJob()"); continue; }
                var rng = state;
                string d = Act(ref rng, guest, scratch);
                descriptions?.Add(d);
            }
            catch (Exception e) { descriptions?.Add(_pending + "   <-- throws"); return Signature(e); }
        }
        return null;
    }

    // Drops chunks of actions (halves, quarters … single actions) while the same exception from the same place stays.
    private static string? Minimize(List<FuzzRandom?> history, string signature)
    {
        var clock = Stopwatch.StartNew();
        var current = history.ToList();
        if (Replay(current) != signature) return null;
        for (int chunk = Math.Max(1, current.Count / 2); chunk >= 1 && clock.Elapsed.TotalSeconds < 60; chunk /= 2)
            for (int start = current.Count - 1 - chunk; start >= 0 && clock.Elapsed.TotalSeconds < 60; start -= chunk)
            {
                var trial = current.Take(start).Concat(current.Skip(start + chunk)).ToList(); // the last (throwing) action stays
                if (Replay(trial) == signature) current = trial;
            }
        var descriptions = new List<string>();
        Replay(current, descriptions);
        var s = new StringBuilder($"  minimized to {descriptions.Count} of {history.Count} actions on a fresh RawGuest (fuzz/Coproc.Fast.Fuzz/Harness/RawGuest.cs):\n");
        foreach (var d in descriptions) s.Append("    ").AppendLine(d);
        return s.ToString();
    }

    private static string Reproducer(List<string> log)
    {
        var s = new StringBuilder("  the case's actions on a RawGuest (fuzz/Coproc.Fast.Fuzz/Harness/RawGuest.cs), after the earlier cases:\n");
        foreach (var a in log.TakeLast(48)) s.Append("    ").AppendLine(a);
        return s.ToString();
    }

    private static string _pending = "";

    private static readonly uint[] Blocks = [MmioMap.EngineBase, MmioMap.EngineBase + 0x80, MmioMap.EngineBase + 0x100, MmioMap.EngineBase + 0x180,
        MmioMap.EngineBase + 0x200, MmioMap.RunListBase, MmioMap.DoorbellBase, MmioMap.MmuBase, MmioMap.InterruptBase, MmioMap.DisplayBase, MmioMap.ClockPowerBase];

    // Performs one action; returns its description (the description of the action in progress is kept in _pending so a
    // throw can name it).
    private static string Act(ref FuzzRandom rng, RawGuest guest, CampaignStats stats)
    {
        var dev = guest.Device;
        var mem = dev.Memory;
        switch (rng.Below(12))
        {
            case 10:
            case 11: // a whole, coherent context, then handed to an engine: the device gets to run real packets
            {
                int slot = rng.Below(Slots);
                _pending = WriteContext(ref rng, mem, slot);
                int e = rng.Below(5);
                uint reg = MmioMap.EngineBase + (uint)e * 0x80 + (rng.OneIn(2) ? 0x00u : 0x10u);
                _pending += $"; Mmio.Write64(0x{reg:X}, {SaveArea(slot)})";
                dev.Mmio.Write64(reg, SaveArea(slot).Encoded);
                stats.Count("contexts handed over");
                return _pending;
            }
            case 0:
            case 1:
            case 2:
            {
                uint block = rng.OneIn(8) ? (uint)rng.Below(0x1000) : rng.Pick(Blocks) + (uint)rng.Below(0x80);
                bool wide = rng.OneIn(2);
                uint offset = rng.OneIn(16) ? block : block & (wide ? ~7u : ~3u);
                ulong value = Value(ref rng);
                _pending = wide ? $"Mmio.Write64(0x{offset:X}, 0x{value:X})" : $"Mmio.Write32(0x{offset:X}, 0x{(uint)value:X})";
                stats.Count("mmio writes");
                if (wide) dev.Mmio.Write64(offset, value); else dev.Mmio.Write32(offset, (uint)value);
                return _pending;
            }
            case 3:
            {
                uint offset = (uint)rng.Below(0x1000);
                bool wide = rng.OneIn(2);
                _pending = $"Mmio.Read{(wide ? 64 : 32)}(0x{offset:X})";
                if (wide) dev.Mmio.Read64(offset); else dev.Mmio.Read32(offset);
                return _pending;
            }
            case 4: // a nearly-right structure in the pool
            {
                int slot = rng.Below(Slots);
                _pending = WriteStructure(ref rng, mem, slot);
                stats.Count("structures written");
                return _pending;
            }
            case 5: // random bytes anywhere
            {
                bool local = rng.OneIn(2);
                ulong size = local ? RawGuest.LocalBytes : RawGuest.SystemBytes;
                int n = 1 + rng.Below(64);
                ulong at = rng.OneIn(2) ? Pool + (ulong)rng.Below(0x50000) : rng.Below(size - (ulong)n);
                var pa = local ? PhysicalAddress.Local(at) : PhysicalAddress.System(at);
                var span = mem.GetSpan(pa, n);
                for (int k = 0; k < n; k++) span[k] = (byte)rng.NextU32();
                _pending = $"memory: {n} random bytes at {pa}";
                stats.Count("memory writes");
                return _pending;
            }
            case 6:
            {
                int db = rng.Below(DoorbellVector.Count + 2);
                ulong offset = (ulong)db * DoorbellAperture.PageSize + (ulong)(ulong)rng.Below(1024) * 4;
                uint v = rng.Interesting32();
                _pending = $"DoorbellAperture.Write32(0x{offset:X}, 0x{v:X}, pid {db % 5})";
                dev.DoorbellAperture.Write32(offset, v, (uint)(db % 5));
                stats.Count("doorbell writes");
                return _pending;
            }
            case 7: // a run list of pool save areas
            {
                int e = rng.Below(5), n = rng.Below(18);
                for (int k = 0; k < n; k++) mem.Write64(Array(e).Add((ulong)k * 8), rng.OneIn(6) ? Value(ref rng) : SaveArea(rng.Below(Slots)).Encoded);
                uint rl = MmioMap.RunListBase + 0x40 + (uint)e * 0x20;
                _pending = $"run list engine {e}: {n} entries at {Array(e)}, RL_BASE/RL_COUNT/RL_SUBMIT";
                dev.Mmio.Write64(rl, Array(e).Encoded);
                dev.Mmio.Write32(rl + 8, (uint)n);
                dev.Mmio.Write32(rl + 0x0C, 1);
                return _pending;
            }
            default:
            {
                ulong cycles = 1 + rng.Below(rng.OneIn(4) ? 2_000_000UL : 20_000UL);
                _pending = $"Step({cycles})";
                dev.Step(cycles);
                stats.Count("steps");
                while (dev.Interrupts.TryDequeue(out var info)) stats.Count($"interrupts:{info.Source}");
                dev.Interrupts.Acknowledge(Coproc.Fast.Device.Interrupts.InterruptSources.AllMask);
                return _pending;
            }
        }
    }

    // A value a guest would plausibly write: a pool structure's address, a boundary value, or noise.
    private static ulong Value(ref FuzzRandom rng) => rng.Below(6) switch
    {
        0 => SaveArea(rng.Below(Slots)).Encoded,
        1 => Descriptor(rng.Below(Slots)).Encoded,
        2 => Table(rng.Below(Slots)).Encoded,
        3 => rng.Interesting64(),
        4 => (ulong)rng.Below(4),
        _ => rng.NextU64(),
    };

    // Flat page table (native-layout.md §4.2) in Table(slot): 16 pages of VA 0.. onto local memory 0x0..0x10000;
    // a ring of mostly good packets with, sometimes, one that faults (past the limit, privileged, malformed) or waits.
    internal static string WriteContext(ref FuzzRandom rng, DeviceMemory mem, int slot)
    {
        for (int p = 0; p < 16; p++)
            mem.Write64(Table(slot).Add((ulong)p * 8), PageTableEntry.Create(MemoryLocation.Local, (ulong)p * 4096, writable: !rng.OneIn(16)).Raw);
        var dwords = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(mem.GetSpan(Ring(slot), 4096));
        dwords.Clear();
        var w = new PacketWriter(dwords);
        int packets = 1 + rng.Below(10);
        for (int p = 0; p < packets; p++)
        {
            ulong va = (ulong)rng.Below(0x10000 / 4) * 4;
            switch (rng.Below(12))
            {
                case 0: w.Fill(va & ~0xFFFUL, rng.NextU32(), 4096); break;
                case 1: w.Copy(va & ~0xFFFUL, (va + 0x8000) & 0xF000, 1024); break;
                case 2: w.Fence(va & ~7UL, rng.NextU64(), interrupt: rng.OneIn(2)); break;
                case 3: w.WriteData(0x20000 + va, 1); break;                       // past the limit: page fault
                case 4: w.RegWrite(0x400, 0); break;                                // privileged in a ring: allowed (kernel ring)
                case 5: dwords[w.Written] = PacketHeader.Make((Opcode)0x3F, 1); w.Advance(1); break; // unknown opcode: InvalidCommand
                case 6: w.Wait(va & ~7UL); break;
                case 7: w.Indirect(va & ~3UL, 4, privileged: rng.OneIn(2)); break;
                case 8: w.DisableContextSwitch(); break;
                case 9: w.EnableContextSwitch(); break;
                default: w.WriteData(va, rng.NextU32()); break;
            }
        }
        mem.Local.Ref<RingDescriptor>(Descriptor(slot).Offset) = new RingDescriptor
        {
            Base = Ring(slot).Encoded, SizeBytes = 4096, ContextId = (uint)slot + 1, WritePtr = (ulong)w.Written * 4,
        };
        var flags = rng.OneIn(4) ? ContextFlags.Faulted : rng.OneIn(8) ? (ContextFlags)rng.Below(32) : 0;
        mem.Local.Ref<ContextSaveArea>(SaveArea(slot).Offset) = new ContextSaveArea
        {
            RingDescriptor = Descriptor(slot).Encoded, ContextId = (uint)slot + 1, Flags = flags,
            AddressSpace = AddressSpaceDescriptor.Flat(Table(slot), 16, (ushort)(slot + 1), faultOnInvalid: true),
        };
        return $"context {slot} at {SaveArea(slot)}: {packets} packets ({w.Written} dwords), flags {flags}";
    }

    private static string WriteStructure(ref FuzzRandom rng, DeviceMemory mem, int slot)
    {
        switch (rng.Below(4))
        {
            case 0:
            {
                var flags = (ContextFlags)(rng.OneIn(2) ? 0 : rng.Below(32));
                mem.Local.Ref<ContextSaveArea>(SaveArea(slot).Offset) = new ContextSaveArea
                {
                    RingDescriptor = rng.OneIn(8) ? Value(ref rng) : Descriptor(rng.Below(Slots)).Encoded,
                    ContextId = (uint)slot + 1,
                    Flags = flags,
                    AddressSpace = rng.OneIn(2)
                        ? AddressSpaceDescriptor.MultiLevel(Table(rng.Below(Slots)), (ushort)(slot + 1), rng.OneIn(2))
                        : AddressSpaceDescriptor.Flat(Table(rng.Below(Slots)), (ulong)rng.Below(1024), (ushort)(slot + 1), rng.OneIn(2)),
                    RingPosition = rng.OneIn(3) ? rng.Interesting64() : (ulong)rng.Below(64) * 4,
                    IndirectAddress = rng.OneIn(3) ? Value(ref rng) : 0,
                    IndirectLength = rng.OneIn(3) ? rng.Interesting32() : 0,
                    IndirectOffset = rng.OneIn(3) ? rng.Interesting32() : 0,
                };
                return $"save area {slot} at {SaveArea(slot)}: flags {flags}";
            }
            case 1:
            {
                uint size = rng.OneIn(4) ? rng.Interesting32() : 4096;
                ulong write = rng.OneIn(4) ? rng.Interesting64() : (ulong)(ulong)rng.Below(1024) * 4;
                mem.Local.Ref<RingDescriptor>(Descriptor(slot).Offset) = new RingDescriptor
                {
                    Base = rng.OneIn(6) ? Value(ref rng) : Ring(slot).Encoded, SizeBytes = size, ContextId = (uint)slot + 1,
                    Flags = rng.OneIn(4) ? 1u : 0, WritePtr = write, ReadPtr = rng.OneIn(4) ? rng.Interesting64() : 0,
                };
                return $"ring descriptor {slot} at {Descriptor(slot)}: size 0x{size:X}, WritePtr 0x{write:X}";
            }
            case 2:
            {
                var dwords = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(mem.GetSpan(Ring(slot), 4096));
                var w = new PacketWriter(dwords);
                int packets = 1 + rng.Below(12);
                for (int p = 0; p < packets && w.Written < 900; p++)
                {
                    ulong va = rng.OneIn(2) ? 0x40_0000UL + (ulong)rng.Below(0x10000) : Value(ref rng);
                    switch (rng.Below(14))
                    {
                        case 0: w.WriteData(va, rng.NextU32()); break;
                        case 1: w.Fill(va, rng.NextU32(), (ulong)rng.Below(0x20000)); break;
                        case 2: w.Copy(va, Value(ref rng), (ulong)rng.Below(0x20000)); break;
                        case 3: w.Fence(va, rng.NextU64(), interrupt: rng.OneIn(2)); break;
                        case 4: w.Wait(va); break;
                        case 5: w.Signal(va); break;
                        case 6: w.Indirect(Value(ref rng) & ~3UL, (uint)rng.Below(256), rng.OneIn(2)); break;
                        case 7: w.DisableContextSwitch(); break;
                        case 8: w.EnableContextSwitch(); break;
                        case 9: w.UpdatePageTable(Value(ref rng), [rng.NextU64()]); break;
                        case 10: w.RegWrite((uint)rng.Below(0x1000) & ~3u, rng.NextU32()); break;
                        case 11: w.TlbFlushAll(); break;
                        case 12: w.PrivilegedFence(Value(ref rng), rng.NextU64()); break;
                        default: dwords[w.Written] = rng.NextU32(); w.Advance(1); break;
                    }
                }
                return $"ring {slot} at {Ring(slot)}: {packets} packets ({w.Written} dwords)";
            }
            default:
            {
                int entries = 1 + rng.Below(8);
                for (int k = 0; k < entries; k++)
                {
                    var pte = rng.OneIn(3)
                        ? PageTableEntry.Create(rng.OneIn(2) ? MemoryLocation.Local : MemoryLocation.System, (ulong)rng.Below(1024) * 4096UL, rng.OneIn(2), rng.OneIn(4)).Raw
                        : rng.OneIn(2) ? PageTableEntry.Create(MemoryLocation.Local, Table(rng.Below(Slots)).Offset).Raw : rng.NextU64();
                    mem.Write64(Table(slot).Add((ulong)rng.Below(512) * 8), pte);
                }
                return $"page table {slot} at {Table(slot)}: {entries} entries";
            }
        }
    }
}
