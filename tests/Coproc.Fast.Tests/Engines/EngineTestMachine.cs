using System.Runtime.CompilerServices;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Rings;

namespace Coproc.Fast.Tests.Engines;

/// <summary>
/// Test-side helper: a small device, a bump allocator over local memory, multi-level page tables built by writing
/// PTEs as native-layout.md §3–§5 describe, and contexts (save area + ring descriptor + ring) driven through MMIO.
/// </summary>
public sealed class EngineTestMachine : IDisposable
{
    private ulong _nextLocal = 0x10000; // keep physical 0 unused: CONTEXT_SWITCH 0 means "idle"
    private ushort _nextAsid = 1;

    public EngineTestMachine(CoprocessorOptions? options = null)
    {
        Device = new Coprocessor(options ?? new CoprocessorOptions
        {
            LocalMemoryBytes = 8UL << 20, SystemMemoryBytes = 2UL << 20, VsyncPeriodCycles = 0,
        });
    }

    /// <summary>Wraps a device the test built itself (e.g. over guest RAM in ranges); disposed with the machine.</summary>
    public EngineTestMachine(Coprocessor device) => Device = device;

    public Coprocessor Device { get; }
    public DeviceMemory Memory => Device.Memory;

    public void Dispose() => Device.Dispose();

    /// <summary>Allocates zeroed local memory.</summary>
    public PhysicalAddress AllocLocal(ulong bytes, ulong align = 4096)
    {
        _nextLocal = (_nextLocal + align - 1) & ~(align - 1);
        var pa = PhysicalAddress.Local(_nextLocal);
        _nextLocal += bytes;
        if (_nextLocal > Memory.Local.Length) throw new InvalidOperationException("test machine out of local memory");
        Memory.GetSpan(pa, (int)bytes).Clear();
        return pa;
    }

    /// <summary>A new multi-level address space.</summary>
    public TestAddressSpace NewAddressSpace(bool faultOnInvalid = true) =>
        new(this, AddressSpaceDescriptor.MultiLevel(AllocLocal(4096), _nextAsid++, faultOnInvalid));

    /// <summary>Creates a context: save area, ring descriptor and ring of <paramref name="ringBytes"/> bytes.</summary>
    public EngineContext NewContext(TestAddressSpace space, uint id, uint ringBytes = 4096)
    {
        var save = AllocLocal(ContextSaveArea.SizeInBytes, ContextSaveArea.Alignment);
        var desc = AllocLocal(RingDescriptor.SizeInBytes, 64);
        var ring = AllocLocal(ringBytes);
        Memory.Local.Ref<RingDescriptor>(desc.Offset) = new RingDescriptor { Base = ring.Encoded, SizeBytes = ringBytes, ContextId = id };
        Memory.Local.Ref<ContextSaveArea>(save.Offset) = new ContextSaveArea
        {
            RingDescriptor = desc.Encoded, ContextId = id, AddressSpace = space.Descriptor,
        };
        return new EngineContext(this, space, save, desc, ring, ringBytes);
    }

    /// <summary>CONTEXT_SWITCH through MMIO.</summary>
    public void SwitchTo(EngineKind engine, EngineContext? context) =>
        Device.Mmio.Write64(EngineRegisters.At(engine, EngineRegisters.ContextSwitch), context?.SaveArea.Encoded ?? 0);

    /// <summary>NEXT_CONTEXT through MMIO.</summary>
    public void SetNext(EngineKind engine, EngineContext? context) =>
        Device.Mmio.Write64(EngineRegisters.At(engine, EngineRegisters.NextContext), context?.SaveArea.Encoded ?? 0);

    /// <summary>Steps until no engine is runnable-and-busy or <paramref name="maxSteps"/> steps of <paramref name="slice"/> cycles.</summary>
    public void RunUntilIdle(ulong slice = 1 << 20, int maxSteps = 1000)
    {
        for (int i = 0; i < maxSteps; i++)
        {
            Device.Step(slice);
            bool busy = false;
            for (int e = 0; e < Coproc.Fast.Device.Engines.Engines.Count; e++)
            {
                var cp = Device.Engine((EngineKind)e);
                if (cp.IsRunnable && (cp.Context.Flags & ContextFlags.Waiting) == 0) busy = true;
            }
            if (!busy) return;
        }
    }

    /// <summary>Drains the interrupt information queue.</summary>
    internal List<InterruptInfo> DrainInterrupts()
    {
        var list = new List<InterruptInfo>();
        while (Device.Interrupts.TryDequeue(out var i)) list.Add(i);
        Device.Interrupts.Acknowledge(InterruptSources.AllMask);
        return list;
    }

    public ContextSaveArea ReadSaveArea(EngineContext c) => Memory.Local.Ref<ContextSaveArea>(c.SaveArea.Offset);
}

/// <summary>A GPU address space whose page tables the test writes by hand.</summary>
public sealed class TestAddressSpace(EngineTestMachine machine, AddressSpaceDescriptor descriptor)
{
    private ulong _nextVa = 0x100000;

    public AddressSpaceDescriptor Descriptor { get; } = descriptor;

    /// <summary>Maps [va, va + pages × 4 KiB) to physical pages starting at <paramref name="pa"/>.</summary>
    public void Map(ulong va, PhysicalAddress pa, int pages, bool writable = true, bool privileged = false)
    {
        for (int i = 0; i < pages; i++)
        {
            ulong v = va + (ulong)i * 4096;
            ulong table = Descriptor.Root.Offset;
            for (int level = 3; level >= 1; level--)
            {
                ulong slot = table + (ulong)PageTableLayout.IndexAt(v, level) * 8;
                ref ulong e = ref machine.Memory.Local.Ref<ulong>(slot);
                if ((e & 1) == 0) e = PageTableEntry.Create(MemoryLocation.Local, machine.AllocLocal(4096).Offset).Raw;
                table = new PageTableEntry(e).FrameOffset;
            }
            machine.Memory.Local.Ref<ulong>(table + (ulong)PageTableLayout.IndexAt(v, 0) * 8) =
                PageTableEntry.Create(pa.Location, pa.Offset + (ulong)i * 4096, writable, privileged).Raw;
        }
    }

    /// <summary>Removes the mapping of one page (V = 0) and flushes the engines' TLBs for it.</summary>
    public void Unmap(ulong va)
    {
        ulong table = Descriptor.Root.Offset;
        for (int level = 3; level >= 1; level--)
            table = new PageTableEntry(machine.Memory.Local.Ref<ulong>(table + (ulong)PageTableLayout.IndexAt(va, level) * 8)).FrameOffset;
        machine.Memory.Local.Ref<ulong>(table + (ulong)PageTableLayout.IndexAt(va, 0) * 8) = 0;
        machine.Device.Tlbs.Invalidate(Descriptor.Asid, va, 1);
    }

    /// <summary>Allocates and maps fresh local pages at the next free VA; returns the VA.</summary>
    public ulong Alloc(ulong bytes, bool writable = true, bool privileged = false, bool scattered = false)
    {
        int pages = (int)((bytes + 4095) / 4096);
        ulong va = _nextVa;
        _nextVa += (ulong)(pages + 1) * 4096; // one unmapped guard page after each allocation
        if (scattered)
        {
            // Physically discontiguous: each page separated by a gap, to exercise page-run boundaries.
            for (int i = 0; i < pages; i++)
            {
                var pa = machine.AllocLocal(4096);
                machine.AllocLocal(4096);
                Map(va + (ulong)i * 4096, pa, 1, writable, privileged);
            }
        }
        else Map(va, machine.AllocLocal((ulong)pages * 4096), pages, writable, privileged);
        return va;
    }

    /// <summary>Physical address behind a VA (walks the tables the same way the test wrote them).</summary>
    public PhysicalAddress PhysicalOf(ulong va)
    {
        var s = machine.Device.Mmu.Walk(Descriptor, va, out var leaf, out _, out _, out _);
        if (s != TranslationStatus.Ok) throw new InvalidOperationException($"VA 0x{va:X} not mapped: {s}");
        return new PhysicalAddress(leaf.Location, leaf.FrameOffset + (va & 0xFFF));
    }

    public void WriteBytes(ulong va, ReadOnlySpan<byte> data)
    {
        for (int done = 0; done < data.Length;)
        {
            ulong v = va + (ulong)done;
            int n = Math.Min(data.Length - done, (int)(4096 - (v & 0xFFF)));
            data.Slice(done, n).CopyTo(machine.Memory.GetSpan(PhysicalOf(v), n));
            done += n;
        }
    }

    public byte[] ReadBytes(ulong va, int length)
    {
        var b = new byte[length];
        for (int done = 0; done < length;)
        {
            ulong v = va + (ulong)done;
            int n = Math.Min(length - done, (int)(4096 - (v & 0xFFF)));
            machine.Memory.GetSpan(PhysicalOf(v), n).CopyTo(b.AsSpan(done, n));
            done += n;
        }
        return b;
    }

    public void WriteDwords(ulong va, ReadOnlySpan<uint> data) => WriteBytes(va, System.Runtime.InteropServices.MemoryMarshal.AsBytes(data));
    public uint Read32(ulong va) => BitConverter.ToUInt32(ReadBytes(va, 4));
    public ulong Read64(ulong va) => BitConverter.ToUInt64(ReadBytes(va, 8));
    public void Write32(ulong va, uint v) => WriteBytes(va, BitConverter.GetBytes(v));
    public void Write64(ulong va, ulong v) => WriteBytes(va, BitConverter.GetBytes(v));

    /// <summary>Writes packets into a new DMA buffer (mapped privileged when asked) and returns its VA.</summary>
    public ulong NewDmaBuffer(ReadOnlySpan<uint> packets, bool privilegedPages = false, bool scattered = false)
    {
        ulong va = Alloc((ulong)Math.Max(packets.Length, 1) * 4, writable: true, privileged: privilegedPages, scattered: scattered);
        WriteDwords(va, packets);
        return va;
    }
}

/// <summary>A context: save area, ring descriptor, ring.</summary>
public sealed class EngineContext(EngineTestMachine machine, TestAddressSpace space, PhysicalAddress saveArea, PhysicalAddress descriptor, PhysicalAddress ring, uint ringBytes)
{
    public TestAddressSpace Space { get; } = space;
    public PhysicalAddress SaveArea { get; } = saveArea;
    public PhysicalAddress Descriptor { get; } = descriptor;
    public PhysicalAddress Ring { get; } = ring;
    public uint RingBytes { get; } = ringBytes;

    private ref RingDescriptor Desc => ref machine.Memory.Local.Ref<RingDescriptor>(Descriptor.Offset);

    public ulong WritePtr => Volatile.Read(ref Desc.WritePtr);
    public ulong ReadPtr => Volatile.Read(ref Desc.ReadPtr);

    /// <summary>
    /// Appends packets to the ring as a producer does: if they do not fit before the ring's end, pads to the end
    /// with one NOP and continues at the start; then publishes the new write pointer.
    /// </summary>
    public void Submit(ReadOnlySpan<uint> packets)
    {
        ulong wp = Desc.WritePtr;
        ulong bytes = (ulong)packets.Length * 4;
        ulong index = wp & (RingBytes - 1);
        if (index + bytes > RingBytes)
        {
            int padDwords = (int)((RingBytes - index) / 4);
            var pad = machine.Memory.GetSpan(Ring.Add(index), padDwords * 4);
            var w = new PacketWriter(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(pad));
            w.Nop(padDwords);
            wp += (ulong)padDwords * 4;
            index = 0;
        }
        if (wp + bytes - Desc.ReadPtr > RingBytes) throw new InvalidOperationException("ring full");
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(packets).CopyTo(machine.Memory.GetSpan(Ring.Add(index), (int)bytes));
        Volatile.Write(ref Desc.WritePtr, wp + bytes);
    }

    /// <summary>Encodes packets with a <see cref="PacketWriter"/> callback and submits them.</summary>
    public void Submit(PacketBuild build)
    {
        var buf = new uint[4096];
        var w = new PacketWriter(buf);
        build(ref w);
        Submit(w.WrittenSpan);
    }
}

/// <summary>Callback that encodes packets.</summary>
public delegate void PacketBuild(ref PacketWriter writer);

/// <summary>Encodes packets into an array.</summary>
public static class PacketProgram
{
    public static uint[] Build(PacketBuild build)
    {
        var buf = new uint[16384];
        var w = new PacketWriter(buf);
        build(ref w);
        return w.WrittenSpan.ToArray();
    }
}
