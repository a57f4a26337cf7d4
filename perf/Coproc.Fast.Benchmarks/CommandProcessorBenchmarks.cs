using BenchmarkDotNet.Attributes;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// docs/performance.md goal 3: simple packets decoded and executed per second, and emulated cycles per host second.
/// Each benchmark drains a 1 MiB ring of one packet kind; the baseline walks the same NOP stream with a bare
/// header-length loop (the floor of touching the stream at all). Times are per packet
/// (OperationsPerInvoke), so packets/s = 1 / time; cycles/s = packets/s × the packet's cost (NOP 1, WRITE_DATA of
/// one dword 5, FENCE 8 with the default costs). <see cref="MixedStreamPerCycle"/> measures the second half of goal 3
/// directly: its time is per emulated cycle, so emulated cycles per host second = 1 / time (goal: ≤ 2 ns).
/// </summary>
[MemoryDiagnoser]
public class CommandProcessorBenchmarks
{
    private const uint RingBytes = 1 << 20;
    private const int NopPackets = (int)(RingBytes / 4);
    private const int WriteDataPackets = (int)(RingBytes / 16) - 1;
    private const int FencePackets = (int)(RingBytes / 20) - 1;
    private const ulong Budget = 1UL << 40;
    // WRITE_DATA (4 dwords, 5 cycles) + FENCE (5 dwords, 8 cycles) + NOP (1 dword, 1 cycle), repeated; the 4 dwords
    // left at the ring's end are one padding NOP (1 cycle). Checked against the engine's BusyCycles in Setup.
    private const int MixedTriples = (int)(RingBytes / 4 / 10);
    private const int MixedCycles = MixedTriples * 14 + 1;

    private BenchMachine _nop = null!, _writeData = null!, _fence = null!, _mixed = null!;
    private uint[] _walk = null!;

    [GlobalSetup]
    public void Setup()
    {
        _nop = BenchMachine.NopRing(RingBytes); // shared with `coproc bench`
        _writeData = Build(w => { for (int i = 0; i < WriteDataPackets; i++) w.WriteData(0x10_0000 + (ulong)(i & 1023) * 4, (uint)i); });
        _fence = Build(w => { for (int i = 0; i < FencePackets; i++) w.Fence(0x10_0000 + (ulong)(i & 511) * 8, (ulong)i); });
        _mixed = Build(w =>
        {
            for (int i = 0; i < MixedTriples; i++)
            {
                w.WriteData(0x10_0000 + (ulong)(i & 255) * 4, (uint)i);
                w.Fence(0x10_0800 + (ulong)(i & 127) * 8, (ulong)i);
                w.Nop();
            }
        });
        var engine = _mixed.Device.Engine(Coproc.Fast.Device.Engines.EngineKind.Copy);
        long busy = engine.BusyCycles;
        _mixed.Replay(Budget);
        if (engine.BusyCycles - busy != MixedCycles)
            throw new InvalidOperationException($"the mixed stream cost {engine.BusyCycles - busy} cycles, not {MixedCycles}");
        _walk = _nop.RingDwords.ToArray();
    }

    private delegate void Fill(PacketWriterBox w);

    private static BenchMachine Build(Fill fill)
    {
        var m = new BenchMachine(16UL << 20, RingBytes);
        m.Map(0x10_0000, 4096);
        var box = new PacketWriterBox(m);
        fill(box);
        m.Seal(box.Written);
        m.Replay(Budget); // warm the TLB and the JIT
        return m;
    }

    /// <summary>Heap wrapper so a lambda can append to the ring (set-up only).</summary>
    private sealed class PacketWriterBox(BenchMachine m)
    {
        public int Written { get; private set; }
        private PacketWriter Writer() => new(m.RingDwords[Written..]);
        public void Nop() { var w = Writer(); w.Nop(); Written += w.Written; }
        public void WriteData(ulong va, uint v) { var w = Writer(); w.WriteData(va, v); Written += w.Written; }
        public void Fence(ulong va, ulong v) { var w = Writer(); w.Fence(va, v); Written += w.Written; }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _nop.Dispose();
        _writeData.Dispose();
        _fence.Dispose();
        _mixed.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = NopPackets)]
    public uint StreamWalk()
    {
        uint sum = 0;
        var s = _walk.AsSpan();
        for (int i = 0; i < s.Length; i += (int)(s[i] >> 16)) sum += s[i] & 0xFF;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = NopPackets)]
    public void NopStream() => _nop.Replay(Budget);

    [Benchmark(OperationsPerInvoke = WriteDataPackets)]
    public void WriteDataStream() => _writeData.Replay(Budget);

    [Benchmark(OperationsPerInvoke = FencePackets)]
    public void FenceStream() => _fence.Replay(Budget);

    /// <summary>A command-processor-bound stream of WRITE_DATA, FENCE and NOP; time per emulated cycle.</summary>
    [Benchmark(OperationsPerInvoke = MixedCycles)]
    public void MixedStreamPerCycle() => _mixed.Replay(Budget);
}
