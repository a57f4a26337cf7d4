using BenchmarkDotNet.Attributes;
using Coproc.Fast.Driver.Kernel;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// docs/performance.md goal 2 (the gate part): one Real ring-0 gate entry with a 256-byte argument copy-in, against the
/// bare system call it is built on; the None and Modeled policies show the gate's own bookkeeping.
/// </summary>
[MemoryDiagnoser]
public class Ring0GateBenchmarks
{
    private readonly byte[] _args = new byte[256];
    private Ring0Gate _real = null!, _none = null!, _modeled = null!;
    private Ring0SubmitPath _path = null!;
    private readonly byte[] _commandBuffer = Ring0SubmitPath.NopCommandBuffer(256);

    [GlobalSetup]
    public void Setup()
    {
        _real = new Ring0Gate(new Ring0GateOptions { Policy = Ring0GatePolicy.Real });
        _none = new Ring0Gate(new Ring0GateOptions { Policy = Ring0GatePolicy.None });
        _modeled = new Ring0Gate(new Ring0GateOptions { Policy = Ring0GatePolicy.Modeled });
        _path = new Ring0SubmitPath(Ring0GatePolicy.Real);
    }

    /// <summary>Frees the kernel ring.</summary>
    [GlobalCleanup]
    public void Cleanup() => _path.Dispose();

    /// <summary>The whole ring-0 path (the one `coproc bench` measures): Real gate + copy-in + KMD validation + DMA buffer + VidSch queue, 256 B; every 64th call also runs the machine until all retired.</summary>
    [Benchmark]
    public bool Ring0Path_Submit256B() => _path.SubmitThroughRing0(1, _commandBuffer);

    /// <summary>Baseline: a bare getppid P/Invoke.</summary>
    [Benchmark(Baseline = true)]
    public int BareGetppid() => Ring0GateSyscall.Transition();

    /// <summary>Real gate: system call + per-process count + 256 B copy-in + pooled buffer.</summary>
    [Benchmark]
    public int RealGate_Enter256B()
    {
        using var call = _real.Enter(1, _args);
        return call.Arguments.Length;
    }

    /// <summary>None: the gate's bookkeeping and copy-in alone.</summary>
    [Benchmark]
    public int NoneGate_Enter256B()
    {
        using var call = _none.Enter(1, _args);
        return call.Arguments.Length;
    }

    /// <summary>Modeled: bookkeeping, copy-in and the virtual-cycle charge.</summary>
    [Benchmark]
    public int ModeledGate_Enter256B()
    {
        using var call = _modeled.Enter(1, _args);
        return call.Arguments.Length;
    }
}
