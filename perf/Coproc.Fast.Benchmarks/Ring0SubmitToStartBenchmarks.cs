using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// docs/performance.md goal 2: ring-0 <b>submit-to-start</b> latency of a 256-byte command buffer — host time
/// from the submit call until the device has executed the buffer's first packet (a WRITE_DATA of a fresh sequence
/// number, read back from device memory) — with the <b>Real</b> gate and with <b>None</b>, beside the bare system
/// call. The machine is deterministic: the path in between (gate, copy-in, validation, DMA buffer, ready queue, the
/// preparation job, patching, the ring write, NEXT_CONTEXT/CONTEXT_SWITCH, the device reaching the INDIRECT) all runs
/// on this thread, so the number is the CPU cost of that path; the modeled CPU costs (preparation, context switch)
/// are virtual cycles, reported separately from a TIMESTAMP the buffer writes first (<see cref="VirtualSubmitToStartCycles"/>, printed at setup).
/// One submission per iteration; the engine is idle before each (the setup drains, not measured).
/// </summary>
[MemoryDiagnoser]
[InvocationCount(1, 1)]
public class Ring0SubmitToStartBenchmarks
{
    private Rig _real = null!, _none = null!;

    /// <summary>Virtual device cycles from submit to the first packet's execution (None gate), measured at setup.</summary>
    public static ulong VirtualSubmitToStartCycles { get; private set; }

    private sealed class Rig : IDisposable
    {
        public readonly Machine Machine;
        public readonly VidSchContext Context;
        public readonly uint[] Commands = new uint[64]; // 256 B
        public readonly ResourceReference[] Resources = new ResourceReference[5];
        public readonly PhysicalAddress Marker, StartCycle;
        public readonly Func<bool> Started;
        public uint Sequence;
        private const int TimestampDwords = 3;

        public Rig(Ring0GatePolicy policy)
        {
            Machine = new Machine(new MachineOptions
            {
                Device = new CoprocessorOptions { LocalMemoryBytes = 16UL << 20, SystemMemoryBytes = 32UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0 },
                Gate = new Ring0GateOptions { Policy = policy },
                Scheduler = new VidSchOptions { DmaBufferDwords = 1024, MaxReferences = 64, RingBytes = 64 * 1024 },
            });
            Context = Machine.CreateContext(1);
            var target = Machine.Kmd.Allocate(1, 4096);
            var w = new PacketWriter(Commands);
            // TIMESTAMP first (the device's cycle when it starts the buffer, for the virtual-time latency), then 4
            // WRITE_DATA of 13 dwords; the first one's first data dword carries the sequence number.
            w.Timestamp(256);
            Resources[0] = new ResourceReference(target, 0, 1, true);
            Span<uint> data = stackalloc uint[10];
            for (int i = 0; i < 4; i++)
            {
                data.Fill((uint)i);
                Resources[i + 1] = new ResourceReference(target, (uint)(w.Written * 4), 0, true);
                w.WriteData((ulong)i * 64, data);
            }
            w.Nop(Commands.Length - w.Written);
            Marker = Machine.VidMm.PhysicalAddressOf(target, 0);
            StartCycle = Machine.VidMm.PhysicalAddressOf(target, 256);
            var memory = Machine.VidMm.Memory;
            Started = () => BinaryPrimitives.ReadUInt32LittleEndian(memory.GetSpan(Marker, 4)) == Sequence;
            for (int i = 0; i < 64; i++) SubmitAndWaitStart(); // warm the pools, the JIT and the ring
            Machine.RunUntilIdle();
        }

        /// <summary>Submits with a fresh sequence number in the first WRITE_DATA and runs until the device wrote it.</summary>
        public bool SubmitAndWaitStart()
        {
            Commands[TimestampDwords + 3] = ++Sequence; // first data dword of the first WRITE_DATA (header, VA lo, VA hi, data…)
            Machine.Kmd.Submit(1, Context, Commands, Resources);
            return Machine.RunUntil(Started);
        }

        public void Dispose() => Machine.Dispose();
    }

    /// <summary>Builds both machines and measures the virtual-cycle latency once.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _real = new Rig(Ring0GatePolicy.Real);
        _none = new Rig(Ring0GatePolicy.None);
        ulong before = _none.Machine.Now;
        if (!_none.SubmitAndWaitStart()) throw new InvalidOperationException("the buffer never started");
        VirtualSubmitToStartCycles = _none.Machine.VidMm.Memory.Read64(_none.StartCycle) - before;
        _none.Machine.RunUntilIdle();
        Console.WriteLine($"// virtual submit-to-start (None gate, modeled costs): {VirtualSubmitToStartCycles} device cycles");
    }

    /// <summary>Idle engine before each measured submission (not measured).</summary>
    [IterationSetup]
    public void Drain()
    {
        _real.Machine.RunUntilIdle();
        _none.Machine.RunUntilIdle();
    }

    /// <summary>Baseline: one bare kernel transition (what the Real gate adds per entry).</summary>
    [Benchmark(Baseline = true)]
    public int Syscall() => Ring0GateSyscall.Transition();

    /// <summary>Submit-to-start through the Real gate (one system call per entry).</summary>
    [Benchmark]
    public bool SubmitToStart_RealGate() => _real.SubmitAndWaitStart();

    /// <summary>Submit-to-start through the gate with no transition charge.</summary>
    [Benchmark]
    public bool SubmitToStart_NoneGate() => _none.SubmitAndWaitStart();

    /// <summary>Frees the machines.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _real.Dispose();
        _none.Dispose();
    }
}
