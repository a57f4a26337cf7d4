using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Rings;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// docs/performance.md goal 6, first half: the host time of one engine CONTEXT_SWITCH between two loaded contexts, driven
/// as the driver drives it — a 64-bit MMIO write of the incoming save area to the engine's CONTEXT_SWITCH register
/// (native-layout.md §10.1), which saves the running context's 256-byte save area (§11), loads the other one, binds
/// and verifies its ring (seed 001 §4.1 step 3) and raises the ContextSwitch interrupt, which the benchmark consumes
/// as the ISR would so the information queue never overflows. The baseline is the floor of any switch: the same
/// 256 bytes saved and loaded with <see cref="Unsafe.CopyBlock(void*, void*, uint)"/> between the same native memory.
/// Times are per switch (each invocation switches A→B→A). Goal: &lt; 1 µs; 0 B allocated.
/// </summary>
[MemoryDiagnoser]
public unsafe class ContextSwitchBenchmarks
{
    private Coprocessor _device = null!;
    private MmioRegisterFile _mmio = null!;
    private InterruptController _interrupts = null!;
    private uint _switchRegister;
    private ulong _saveA, _saveB;
    private byte* _areaA, _areaB, _live;
    private ulong _nextLocal = 0x10000; // physical 0 stays unused: CONTEXT_SWITCH 0 means "idle"

    /// <summary>Builds a device with two contexts (save area, ring descriptor, empty ring, one address space each).</summary>
    [GlobalSetup]
    public void Setup()
    {
        _device = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 4UL << 20, SystemMemoryBytes = 2UL << 20, VsyncPeriodCycles = 0 });
        _mmio = _device.Mmio;
        _interrupts = _device.Interrupts;
        _switchRegister = MmioMap.EngineBase + (uint)EngineKind.Render * 0x80; // §10.1: CONTEXT_SWITCH at +0x00
        _saveA = NewContext(1);
        _saveB = NewContext(2);
        _areaA = Pointer(_saveA);
        _areaB = Pointer(_saveB);
        _live = (byte*)NativeMemoryAlloc();
        new Span<byte>(_live, ContextSaveArea.SizeInBytes).Clear();
        _mmio.Write64(_switchRegister, _saveA);
        Drain();
        // Warm the JIT and prove the switch really happens (and the ring binds without a fault).
        var engine = _device.Engine(EngineKind.Render);
        long before = engine.SwitchCount;
        SwitchAThenB();
        if (engine.SwitchCount - before != 2 || engine.CurrentContext != _saveA || (engine.Context.Flags & ContextFlags.Faulted) != 0)
            throw new InvalidOperationException("CONTEXT_SWITCH through MMIO did not switch A→B→A cleanly");
    }

    private static void* NativeMemoryAlloc() => System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)ContextSaveArea.SizeInBytes, 64);

    private byte* Pointer(ulong encoded)
    {
        var pa = PhysicalAddress.Decode(encoded);
        return (byte*)Unsafe.AsPointer(ref _device.Memory.Local.Ref<byte>(pa.Offset));
    }

    private PhysicalAddress Alloc(ulong bytes)
    {
        _nextLocal = (_nextLocal + 4095) & ~4095UL;
        var pa = PhysicalAddress.Local(_nextLocal);
        _nextLocal += bytes;
        _device.Memory.GetSpan(pa, (int)bytes).Clear();
        return pa;
    }

    private ulong NewContext(uint id)
    {
        var space = AddressSpaceDescriptor.MultiLevel(Alloc(4096), (ushort)id, faultOnInvalid: true);
        var save = Alloc(ContextSaveArea.SizeInBytes);
        var desc = Alloc(RingDescriptor.SizeInBytes);
        var ring = Alloc(4096);
        _device.Memory.Local.Ref<RingDescriptor>(desc.Offset) = new RingDescriptor { Base = ring.Encoded, SizeBytes = 4096, ContextId = id };
        _device.Memory.Local.Ref<ContextSaveArea>(save.Offset) = new ContextSaveArea { RingDescriptor = desc.Encoded, ContextId = id, AddressSpace = space };
        return save.Encoded;
    }

    // The driver's ISR consumes each switch report; without it the 64-entry queue would fill and count drops.
    private void Drain()
    {
        while (_interrupts.TryDequeue(out _)) { }
        _interrupts.Acknowledge(InterruptSources.AllMask);
    }

    private void SwitchAThenB()
    {
        _mmio.Write64(_switchRegister, _saveB);
        _interrupts.TryDequeue(out _);
        _mmio.Write64(_switchRegister, _saveA);
        _interrupts.TryDequeue(out _);
        _interrupts.Acknowledge(InterruptSources.AllMask);
    }

    /// <summary>Baseline: the 256-byte save of the live state into A's area and the load of B's (then back), per switch.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = 2)]
    public byte SaveLoadCopyBlock()
    {
        Unsafe.CopyBlock(_areaA, _live, (uint)ContextSaveArea.SizeInBytes);
        Unsafe.CopyBlock(_live, _areaB, (uint)ContextSaveArea.SizeInBytes);
        Unsafe.CopyBlock(_areaB, _live, (uint)ContextSaveArea.SizeInBytes);
        Unsafe.CopyBlock(_live, _areaA, (uint)ContextSaveArea.SizeInBytes);
        return _live[0];
    }

    /// <summary>CONTEXT_SWITCH A→B→A through the engine's MMIO register (save + load + ring bind + interrupt), per switch.</summary>
    [Benchmark(OperationsPerInvoke = 2)]
    public ulong ContextSwitchViaMmio()
    {
        SwitchAThenB();
        return _device.Engine(EngineKind.Render).CurrentContext;
    }

    /// <summary>Frees the device and the baseline's buffer.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        System.Runtime.InteropServices.NativeMemory.AlignedFree(_live);
        _device.Dispose();
    }
}
