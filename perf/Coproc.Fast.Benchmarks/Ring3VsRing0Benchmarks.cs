using BenchmarkDotNet.Attributes;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// docs/performance.md goal 2: the same work — 64-byte NOP submissions executed by the render engine —
/// submitted from ring 3 (a registered user queue + doorbell, no gate crossing) and from ring 0 (UMD buffer → Real
/// gate → KMD validation → DMA buffer → VidSch, <see cref="Ring0SubmitPath"/>) on one deterministic machine, as
/// throughput (64 submissions then run until executed) and as submit-to-execute latency (one submission, run until
/// executed); baseline: the bare system call one ring-0 entry costs. Goal: ring 3 ≥ 10× ring 0.
/// </summary>
[MemoryDiagnoser]
public class Ring3VsRing0Benchmarks
{
    private const int Batch = 64;
    private Ring0SubmitPath _ring0 = null!;
    private UserQueue _queue = null!;
    private readonly uint[] _packet = new uint[16];
    private readonly byte[] _commandBuffer = Ring0SubmitPath.NopCommandBuffer(64);

    /// <summary>Builds the machine, its ring-0 context and a ring-3 user queue on the same render engine.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _ring0 = new Ring0SubmitPath(Ring0GatePolicy.Real);
        var m = _ring0.Machine;
        var vidmm = m.VidMm;
        var space = vidmm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
        var descriptor = vidmm.Allocate(VideoMemoryManager.PageSize, placement: PlacementHint.SystemOnly, flags: AllocationFlags.Contiguous);
        var ring = vidmm.Allocate(256 * 1024, 256 * 1024, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        var save = vidmm.Allocate(VideoMemoryManager.PageSize, placement: PlacementHint.LocalOnly, flags: AllocationFlags.Contiguous);
        m.Device.Memory.GetSpan(vidmm.PhysicalAddressOf(descriptor, 0), 4096).Clear();
        m.Device.Memory.GetSpan(vidmm.PhysicalAddressOf(save, 0), 4096).Clear();
        var registrar = new UserQueueRegistrar(m.Bus, m.Gate);
        _queue = registrar.Register(1, new UserQueueRegistrationRequest
        {
            ContextId = 0x100, Engine = EngineKind.Render, Priority = 0, TimeSliceCycles = 1_000_000,
            DescriptorAddress = vidmm.PhysicalAddressOf(descriptor, 0).Encoded,
            RingBase = vidmm.PhysicalAddressOf(ring, 0).Encoded, RingBytes = 256 * 1024,
        }, new UserQueueExecution(vidmm.PhysicalAddressOf(save, 0), space.Descriptor)).Open(m.Device.Memory);
        _packet[0] = PacketHeader.Make(Opcode.Nop, 16);
        for (int i = 0; i < 4; i++) { Ring3Batch(); Ring0Batch(); } // warm pools and TLBs
    }

    /// <summary>Frees the machine.</summary>
    [GlobalCleanup]
    public void Cleanup() => _ring0.Dispose();

    private void RunUntilRing3Drained()
    {
        ulong target = _queue.WritePosition;
        while (_queue.DeviceReadPtr != target) _ring0.Machine.RunFor(1024);
    }

    /// <summary>Ring 3: 64 packets written, each published with its doorbell, then executed.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public void Ring3Batch()
    {
        for (int i = 0; i < Batch; i++)
            if (!_queue.TrySubmit(_packet)) throw new InvalidOperationException("user queue full");
        RunUntilRing3Drained();
    }

    /// <summary>Ring 0 (Real gate): 64 command buffers through the KMD into VidSch, then executed and retired.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public void Ring0Batch()
    {
        for (int i = 0; i < Batch; i++)
            if (!_ring0.SubmitThroughRing0(1, _commandBuffer)) throw new InvalidOperationException("rejected");
        _ring0.Drain();
    }

    /// <summary>Ring 3 submit-to-execute latency: one packet and its doorbell, run until the engine consumed it.</summary>
    [Benchmark]
    public void Ring3SubmitToExecuted()
    {
        if (!_queue.TrySubmit(_packet)) throw new InvalidOperationException("user queue full");
        RunUntilRing3Drained();
    }

    /// <summary>Ring 0 submit-to-execute latency: one command buffer, run until it retired (fence interrupt handled).</summary>
    [Benchmark]
    public void Ring0SubmitToExecuted()
    {
        if (!_ring0.SubmitThroughRing0(1, _commandBuffer)) throw new InvalidOperationException("rejected");
        _ring0.Drain();
    }

    /// <summary>Baseline: the bare system call one Real ring-0 entry makes.</summary>
    [Benchmark(Baseline = true)]
    public int BareGetppid() => Ring0GateSyscall.Transition();
}
