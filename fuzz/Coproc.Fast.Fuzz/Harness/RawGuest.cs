using System.Runtime.InteropServices;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Rings;

namespace Coproc.Fast.Fuzz.Harness;

/// <summary>
/// A second driver written from native-layout.md alone, as a host emulator's guest would be: it reaches the
/// <see cref="Coprocessor"/> only through MMIO, memory and the doorbell aperture. It can quiesce the engines
/// (§10.1 CONTEXT_SWITCH 0, NEXT_CONTEXT 0) and run one fresh valid job: a context with its own four-level page
/// table (§4.1) whose ring writes WRITE_DATA and FENCE through a mapped page.
/// </summary>
internal sealed class RawGuest : IDisposable
{
    public const ulong LocalBytes = 4UL << 20, SystemBytes = 2UL << 20;
    /// <summary>Local memory the fresh job builds its context in (the guest's garbage may have hit it; it is rebuilt).</summary>
    public const ulong FreshRegion = 3UL << 20;
    private ushort _asid = 0x7000;
    private uint _jobs;

    public RawGuest()
    {
        Device = new Coprocessor(new CoprocessorOptions
        {
            LocalMemoryBytes = LocalBytes, SystemMemoryBytes = SystemBytes, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 50_000,
        });
    }

    public Coprocessor Device { get; }
    public MmioRegisterFile Mmio => Device.Mmio;

    private static uint EngineRegister(int engine, uint offset) => MmioMap.EngineBase + (uint)engine * 0x80 + offset;

    public uint Status(int engine) => Mmio.Read32(EngineRegister(engine, 0x20));

    /// <summary>Every engine: NEXT_CONTEXT 0, CONTEXT_SWITCH 0, repeated over a few steps (pending run lists are taken at switch points).</summary>
    public void Quiesce()
    {
        for (int round = 0; round < 4; round++)
        {
            for (int e = 0; e < Engines.Count; e++)
            {
                Mmio.Write64(EngineRegister(e, 0x10), 0);
                Mmio.Write64(EngineRegister(e, 0x00), 0);
            }
            Device.Step(100_000);
        }
        Mmio.Write32(MmioMap.MmuBase + 0x38, 2); // TLB_INV_CMD 2: every entry of every client TLB
    }

    /// <summary>
    /// The fresh job on the first engine the guest has not legitimately locked (a disable-context-switch region, a
    /// deferred switch or a pending run list keep an engine by design, native-layout.md §10.1, §10.5). Null when the
    /// job ran with every byte right; "inconclusive" when every engine is locked that way; else what went wrong.
    /// </summary>
    public string? FreshJob(out bool inconclusive)
    {
        inconclusive = false;
        int engine = -1;
        for (int e = 0; e < Engines.Count && engine < 0; e++)
        {
            uint s = Status(e);
            uint rlState = Mmio.Read32(MmioMap.RunListBase + 0x40 + (uint)e * 0x20 + 0x10);
            if ((s & (1u << 5 | 1u << 6)) == 0 && (rlState & (1u << 8 | 1u << 9)) == 0) engine = e;
        }
        if (engine < 0) { inconclusive = true; return null; }

        var mem = Device.Memory;
        uint marker = 0xF2E5_0000u | ++_jobs;
        ulong next = FreshRegion;
        PhysicalAddress Take(ulong bytes)
        {
            var pa = PhysicalAddress.Local(next);
            mem.GetSpan(pa, (int)bytes).Clear();
            next += (bytes + 4095) & ~4095UL;
            return pa;
        }
        var root = Take(4096);
        var data = Take(4096);
        const ulong Va = 0x0000_0040_0000;
        ulong table = root.Offset;
        for (int level = 3; level >= 1; level--)
        {
            var child = Take(4096);
            mem.Write64(PhysicalAddress.Local(table + (ulong)PageTableLayout.IndexAt(Va, level) * 8), PageTableEntry.Create(MemoryLocation.Local, child.Offset).Raw);
            table = child.Offset;
        }
        mem.Write64(PhysicalAddress.Local(table + (ulong)PageTableLayout.IndexAt(Va, 0) * 8), PageTableEntry.Create(MemoryLocation.Local, data.Offset, writable: true).Raw);

        var ring = Take(4096);
        var packets = MemoryMarshal.Cast<byte, uint>(mem.GetSpan(ring, 4096));
        var w = new PacketWriter(packets);
        w.WriteData(Va + 16, marker);
        w.Fence(Va, marker);
        int bytes = w.Written * 4;
        var descriptor = Take(4096);
        mem.Local.Ref<RingDescriptor>(descriptor.Offset) = new RingDescriptor { Base = ring.Encoded, SizeBytes = 4096, ContextId = 0xF5E5, WritePtr = (ulong)bytes };
        var save = Take(4096);
        ushort asid = _asid++;
        if (_asid == 0xFFFF) _asid = 0x7000;
        mem.Local.Ref<ContextSaveArea>(save.Offset) = new ContextSaveArea
        {
            RingDescriptor = descriptor.Encoded, ContextId = 0xF5E5, AddressSpace = AddressSpaceDescriptor.MultiLevel(root, asid, faultOnInvalid: true),
        };
        Mmio.Write32(MmioMap.MmuBase + 0x38, 2);
        Mmio.Write64(EngineRegister(engine, 0x00), save.Encoded);
        for (int i = 0; i < 200 && mem.Read64(data) != marker; i++) Device.Step(50_000);
        if (mem.Read64(data) != marker)
            return $"fresh job on engine {(EngineKind)engine} did not finish: fence 0x{mem.Read64(data):X}, STATUS 0x{Status(engine):X}, " +
                   $"CURRENT 0x{Mmio.Read64(EngineRegister(engine, 0x08)):X} (save area 0x{save.Encoded:X}), LAST_FAULT 0x{Mmio.Read32(EngineRegister(engine, 0x38)):X}";
        if (mem.Read32(data.Add(16)) != marker) return $"fresh job on engine {(EngineKind)engine}: WRITE_DATA did not land";
        Mmio.Write64(EngineRegister(engine, 0x00), 0);
        Device.Step(10_000);
        return null;
    }

    public void Dispose() => Device.Dispose();
}
