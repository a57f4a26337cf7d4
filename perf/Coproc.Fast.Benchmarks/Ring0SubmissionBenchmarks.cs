using BenchmarkDotNet.Attributes;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// docs/performance.md goal 2: ring-0 submission of a 256-byte command buffer (gate with copy-in,
/// validation, copy into a pooled kernel DMA buffer, queueing on the scheduler) with the <b>Real</b> gate (one
/// <c>getppid</c> per entry) and with <b>None</b>, beside the bare system call in the same class. Each iteration
/// submits <see cref="PerIteration"/> buffers; the cleanup runs the machine (deterministic mode) until they all
/// retired, outside the measurement. <see cref="SubmitToRetire_None"/> measures the whole pipeline per buffer
/// (preparation, ring write, device execution, fence interrupt, retirement) in host time.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(1, 1)] // one invocation = PerIteration submissions, then the cleanup drains (not measured)
public class Ring0SubmissionBenchmarks
{
    /// <summary>Submissions per iteration (the DMA-buffer pool grows to this once, then is reused).</summary>
    public const int PerIteration = 256;

    private Machine _real = null!, _none = null!;
    private VidSchContext _realCtx = null!, _noneCtx = null!;
    private readonly uint[] _commands = new uint[64]; // 256 B
    private readonly ResourceReference[] _resources = new ResourceReference[4];

    /// <summary>Builds both machines and a 256-byte command buffer (4 WRITE_DATA of 13 dwords + a NOP), warming the DMA-buffer pools.</summary>
    [GlobalSetup]
    public void Setup()
    {
        (_real, _realCtx) = Build(Ring0GatePolicy.Real);
        (_none, _noneCtx) = Build(Ring0GatePolicy.None);
        for (int i = 0; i < 2; i++) { FillAndDrain(_real, _realCtx); FillAndDrain(_none, _noneCtx); }
    }

    private (Machine, VidSchContext) Build(Ring0GatePolicy policy)
    {
        var m = new Machine(new MachineOptions
        {
            Device = new CoprocessorOptions { LocalMemoryBytes = 16UL << 20, SystemMemoryBytes = 32UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0 },
            Gate = new Ring0GateOptions { Policy = policy },
            Scheduler = new VidSchOptions { DmaBufferDwords = 1024, MaxReferences = 64, RingBytes = 64 * 1024 },
        });
        var ctx = m.CreateContext(1);
        var target = m.Kmd.Allocate(1, 4096);
        var w = new PacketWriter(_commands);
        Span<uint> data = stackalloc uint[10];
        for (int i = 0; i < 4; i++)
        {
            data.Fill((uint)i);
            w.WriteData((ulong)i * 64, data);
            _resources[i] = new ResourceReference(target, (uint)(i * 13 * 4), 0, true);
        }
        w.Nop(_commands.Length - w.Written);
        return (m, ctx);
    }

    private void FillAndDrain(Machine m, VidSchContext ctx)
    {
        for (int i = 0; i < PerIteration; i++) m.Kmd.Submit(1, ctx, _commands, _resources);
        m.RunUntilIdle();
    }

    /// <summary>Baseline: one bare kernel transition (what the Real gate adds per entry).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = PerIteration)]
    public int Syscall()
    {
        int x = 0;
        for (int i = 0; i < PerIteration; i++) x += Ring0GateSyscall.Transition();
        return x;
    }

    /// <summary>Ring-0 submission through the Real gate (one system call per entry).</summary>
    [Benchmark(OperationsPerInvoke = PerIteration)]
    public long Submit_RealGate()
    {
        long id = 0;
        for (int i = 0; i < PerIteration; i++) id = _real.Kmd.Submit(1, _realCtx, _commands, _resources);
        return id;
    }

    /// <summary>Ring-0 submission through the gate with no transition charge.</summary>
    [Benchmark(OperationsPerInvoke = PerIteration)]
    public long Submit_NoneGate()
    {
        long id = 0;
        for (int i = 0; i < PerIteration; i++) id = _none.Kmd.Submit(1, _noneCtx, _commands, _resources);
        return id;
    }

    /// <summary>Retires what the measured submissions queued (outside the measurement).</summary>
    [IterationCleanup]
    public void Drain()
    {
        _real.RunUntilIdle();
        _none.RunUntilIdle();
    }

    /// <summary>Submit-to-retire: one buffer's whole pipeline (submission, preparation, ring write, execution, fence interrupt, retirement) in host time.</summary>
    [Benchmark(OperationsPerInvoke = PerIteration)]
    public bool SubmitToRetire_None()
    {
        for (int i = 0; i < PerIteration; i++)
        {
            _none.Kmd.Submit(1, _noneCtx, _commands, _resources);
            _none.RunUntilIdle();
        }
        return true;
    }

    /// <summary>Frees the machines.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _real.Dispose();
        _none.Dispose();
    }
}
