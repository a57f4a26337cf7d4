using System.Runtime.InteropServices;
using System.Text;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Paging;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Tests.VidMm;

/// <summary>
/// A device (8 MiB local, 32 MiB system) with VidMm, a residency manager and a privileged kernel context on the copy
/// engine that runs paging buffers for real: the paging buffer is written to pinned local memory and INDIRECTed with
/// bit 0 set, exactly as VidSch would.
/// </summary>
internal sealed class ResidencyRig : IDisposable
{
    public const ulong KiB = 1024, MiB = 1024 * 1024;
    private const int BufferBytes = 256 << 10;
    private ulong _nextFence = 1;
    private int _queuedDwords; // paging buffers queued in Buffer and not run yet

    public ResidencyRig(ulong localBytes = 8 * MiB, ulong systemBytes = 32 * MiB)
    {
        Device = new Coprocessor(new CoprocessorOptions
        {
            LocalMemoryBytes = localBytes, SystemMemoryBytes = systemBytes, ApertureBytes = 1 << 20, VsyncPeriodCycles = 0,
        });
        Vm = VideoMemoryManager.ForDevice(Device);
        Rm = new ResidencyManager(Vm);
        Paging = new KernelContext(Vm, Rm.KernelView, 0xF000);
        Buffer = Vm.Allocate(BufferBytes, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        FencePage = Vm.Allocate(4096, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        FenceAddress = Vm.PhysicalAddressOf(FencePage, 0);
    }

    public Coprocessor Device { get; }
    public VideoMemoryManager Vm { get; }
    public ResidencyManager Rm { get; }
    public KernelContext Paging { get; }
    public AllocationHandle Buffer { get; }
    public AllocationHandle FencePage { get; }
    public PhysicalAddress FenceAddress { get; }
    public ulong FenceValue => Device.Memory.Read64(FenceAddress);
    public int FenceInterrupts { get; private set; }

    public void Dispose() => Device.Dispose();

    public static ResourceReference Ref(AllocationHandle h, bool write = false) => new(h, 0, 0, write);

    public static ResourceReference[] Refs(params AllocationHandle[] hs) => hs.Select(h => Ref(h)).ToArray();

    /// <summary>Builds the paging buffer for <paramref name="ops"/>, runs it on the copy engine and returns the fences emitted.</summary>
    public int RunPaging(List<PagingOperation> ops)
    {
        int fences = SubmitPaging(ops);
        ulong last = _nextFence - 1;
        RunContext(EngineKind.Copy, Paging);
        _queuedDwords = 0;
        if (fences > 0) Assert.That(FenceValue, Is.EqualTo(last), "the last paging fence was written");
        Rm.RetireInTransit(); // as a paging channel does when its fence passes: what the paging vacated is free again
        return fences;
    }

    /// <summary>Builds the paging buffer for <paramref name="ops"/> and queues it on the paging context without running
    /// the device (the paging is recorded, not executed); returns the fences emitted. Several may be queued (behind one
    /// another in <see cref="Buffer"/>) before <see cref="RunQueuedPaging"/>.</summary>
    public int SubmitPaging(List<PagingOperation> ops)
    {
        var pa = Vm.PhysicalAddressOf(Buffer, (ulong)_queuedDwords * 4);
        var dst = MemoryMarshal.Cast<byte, uint>(Device.Memory.GetSpan(pa, BufferBytes - _queuedDwords * 4));
        int dwords = Rm.BuildPagingBuffer(CollectionsMarshal.AsSpan(ops), dst, FenceAddress, _nextFence, out int fences);
        _queuedDwords += (dwords + 15) & ~15;
        Assert.That(dwords, Is.LessThanOrEqualTo(Rm.MeasurePagingBuffer(CollectionsMarshal.AsSpan(ops))), "measure is an upper bound");
        _nextFence += (ulong)fences;
        Assert.That(Paging.TrySubmitIndirect(Rm.View.VaOf(pa), (uint)dwords, privileged: true), Is.True);
        return fences;
    }

    /// <summary>Runs the paging buffers <see cref="SubmitPaging"/> queued, in order, and returns memory in transit.</summary>
    public void RunQueuedPaging()
    {
        RunContext(EngineKind.Copy, Paging);
        _queuedDwords = 0;
        Rm.RetireInTransit();
    }

    /// <summary>Loads <paramref name="ctx"/> on <paramref name="engine"/> (if not loaded) and steps until its ring drained.</summary>
    public void RunContext(EngineKind engine, KernelContext ctx)
    {
        uint bank = MmioMap.EngineBase + (uint)engine * 0x80;
        if (Device.Mmio.Read64(bank + 0x08) != ctx.SaveArea.Encoded) Device.Mmio.Write64(bank, ctx.SaveArea.Encoded);
        for (int i = 0; i < 10_000 && !ctx.IsDrained; i++) Device.Step(1 << 16);
        Assert.That(ctx.IsDrained, Is.True, "context drained");
        Assert.That(Device.Mmio.Read32(bank + 0x20) & 16u, Is.Zero, $"engine {engine} faulted: reason 0x{Device.Mmio.Read32(bank + 0x38):X}");
        while (Device.Interrupts.TryDequeue(out var info))
        {
            if (info.Source == InterruptSource.Fence) FenceInterrupts++;
            Assert.That(info.Source, Is.Not.AnyOf(InterruptSource.PageFault, InterruptSource.ProtectionFault, InterruptSource.InvalidCommand, InterruptSource.Error),
                $"unexpected {info.Source} data0=0x{info.Data0:X}");
        }
        Device.Interrupts.Acknowledge(InterruptSources.AllMask);
    }

    /// <summary>Makes the set resident for <paramref name="ctx"/> and runs the paging buffer; returns the operations.</summary>
    public List<PagingOperation> MakeResident(int ctx, params AllocationHandle[] hs)
    {
        var ops = new List<PagingOperation>();
        var outcome = Rm.MakeResident(Refs(hs), ctx, ops);
        Assert.That(outcome, Is.Not.EqualTo(ResidencyOutcome.DoesNotFit));
        if (ops.Count > 0) RunPaging(ops);
        return ops;
    }

    /// <summary>The allocation's bytes at its current home, which must be one extent (see <see cref="Read"/> / <see cref="Write"/>).</summary>
    public Span<byte> Bytes(AllocationHandle h)
    {
        var extents = Vm.ExtentsOf(h);
        if (extents.Length != 1) throw new InvalidOperationException($"{h} lies in {extents.Length} extents: use Read/Write");
        return Device.Memory.GetSpan(extents[0].Address, (int)extents[0].Bytes);
    }

    /// <summary>A copy of the allocation's bytes, gathered from its extents in order.</summary>
    public byte[] Read(AllocationHandle h)
    {
        var bytes = new byte[Vm.SizeOf(h)];
        int at = 0;
        foreach (var e in Vm.ExtentsOf(h))
        {
            Device.Memory.GetSpan(e.Address, (int)e.Bytes).CopyTo(bytes.AsSpan(at));
            at += (int)e.Bytes;
        }
        return bytes;
    }

    /// <summary>Writes <paramref name="data"/> over the allocation's extents in order.</summary>
    public void Write(AllocationHandle h, ReadOnlySpan<byte> data)
    {
        int at = 0;
        foreach (var e in Vm.ExtentsOf(h))
        {
            if (at >= data.Length) break;
            int n = Math.Min((int)e.Bytes, data.Length - at);
            data.Slice(at, n).CopyTo(Device.Memory.GetSpan(e.Address, n));
            at += n;
        }
    }

    /// <summary>Fills the allocation (at its current home) with bytes derived from <paramref name="seed"/>.</summary>
    public void Stamp(AllocationHandle h, int seed) => Write(h, Pattern(seed, (int)Vm.SizeOf(h)));

    public static void Pattern(int seed, Span<byte> into)
    {
        var r = new Random(seed);
        r.NextBytes(into);
    }

    public static byte[] Pattern(int seed, int length)
    {
        var b = new byte[length];
        Pattern(seed, b);
        return b;
    }

    /// <summary>Driver-side state that must not change on a refused request.</summary>
    public string State(IEnumerable<AllocationHandle> managed, params int[] contexts)
    {
        var sb = new StringBuilder();
        sb.Append("L:").AppendJoin(',', Vm.Local.Pages.SnapshotFreeRanges()).AppendLine();
        foreach (var h in managed) sb.Append(h).Append(' ').Append(Rm.IsResident(h)).Append(' ').AppendJoin('|', Vm.ExtentsOf(h)).AppendLine();
        foreach (int c in contexts) sb.Append(c).Append(':').AppendJoin(',', Rm.WorkingSet(c)).AppendLine();
        sb.Append("G:").AppendJoin(',', Rm.ResidentByRecency()).AppendLine();
        sb.Append("R:").Append(Rm.ResidentBytes);
        return sb.ToString();
    }
}
