using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Rings;

namespace Coproc.Fast.Workloads;

/// <summary>
/// A device with one context on one engine whose ring is filled once; every <see cref="Replay"/> re-publishes the
/// whole ring (write pointer += ring size, the bytes unchanged) and steps the device until the engine drains it.
/// Page tables are written as native-layout.md §3–§5 describe.
/// </summary>
internal sealed class BenchMachine : IDisposable
{
    private ulong _nextLocal = 0x10000;
    private readonly AddressSpaceDescriptor _space;
    private readonly PhysicalAddress _descriptor;
    private readonly PhysicalAddress _ring;

    public BenchMachine(ulong localBytes, uint ringBytes)
    {
        Device = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = localBytes, SystemMemoryBytes = 2UL << 20, VsyncPeriodCycles = 0 });
        _space = AddressSpaceDescriptor.MultiLevel(Alloc(4096), 1, faultOnInvalid: true);
        var save = Alloc(ContextSaveArea.SizeInBytes);
        _descriptor = Alloc(RingDescriptor.SizeInBytes);
        _ring = Alloc(ringBytes);
        RingBytes = ringBytes;
        Device.Memory.Local.Ref<RingDescriptor>(_descriptor.Offset) = new RingDescriptor { Base = _ring.Encoded, SizeBytes = ringBytes, ContextId = 1 };
        Device.Memory.Local.Ref<ContextSaveArea>(save.Offset) = new ContextSaveArea { RingDescriptor = _descriptor.Encoded, ContextId = 1, AddressSpace = _space };
        Device.Mmio.Write64(EngineRegisters.At(EngineKind.Copy, EngineRegisters.ContextSwitch), save.Encoded);
    }

    /// <summary>
    /// docs/performance.md goal 3's workload: a machine whose <paramref name="ringBytes"/> ring is all 1-dword NOPs
    /// (ringBytes / 4 packets), replayed once to warm the JIT.
    /// </summary>
    public static BenchMachine NopRing(uint ringBytes)
    {
        var m = new BenchMachine(16UL << 20, ringBytes);
        var w = new PacketWriter(m.RingDwords);
        for (int i = 0; i < (int)(ringBytes / 4); i++) w.Nop();
        m.Seal(w.Written);
        m.Replay(1UL << 40);
        return m;
    }

    public Coprocessor Device { get; }
    public uint RingBytes { get; }

    public PhysicalAddress Alloc(ulong bytes)
    {
        _nextLocal = (_nextLocal + 4095) & ~4095UL;
        var pa = PhysicalAddress.Local(_nextLocal);
        _nextLocal += bytes;
        return pa;
    }

    /// <summary>Maps [va, va + bytes) to fresh, physically contiguous local memory; returns its physical address.</summary>
    public PhysicalAddress Map(ulong va, ulong bytes)
    {
        var pa = Alloc(bytes);
        for (ulong off = 0; off < bytes; off += 4096)
        {
            ulong v = va + off, table = _space.Root.Offset;
            for (int level = 3; level >= 1; level--)
            {
                ref ulong e = ref Device.Memory.Local.Ref<ulong>(table + (ulong)PageTableLayout.IndexAt(v, level) * 8);
                if ((e & 1) == 0) e = PageTableEntry.Create(MemoryLocation.Local, Alloc(4096).Offset).Raw;
                table = new PageTableEntry(e).FrameOffset;
            }
            Device.Memory.Local.Ref<ulong>(table + (ulong)PageTableLayout.IndexAt(v, 0) * 8) = PageTableEntry.Create(MemoryLocation.Local, pa.Offset + off).Raw;
        }
        return pa;
    }

    /// <summary>The ring's bytes as dwords, to encode packets into (the tail is padded with one NOP by <see cref="Seal"/>).</summary>
    public Span<uint> RingDwords => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(Device.Memory.GetSpan(_ring, (int)RingBytes));

    /// <summary>Pads the ring after <paramref name="writtenDwords"/> with one NOP to its end.</summary>
    public void Seal(int writtenDwords)
    {
        int rest = (int)(RingBytes / 4) - writtenDwords;
        if (rest > 0)
        {
            var w = new PacketWriter(RingDwords[writtenDwords..]);
            w.Nop(rest);
        }
    }

    /// <summary>Re-publishes the whole ring and runs the device until the engine has drained it.</summary>
    public void Replay(ulong cycles)
    {
        ref var desc = ref Device.Memory.Local.Ref<RingDescriptor>(_descriptor.Offset);
        desc.WritePtr += RingBytes;
        Device.Step(cycles);
    }

    public void Dispose() => Device.Dispose();
}
