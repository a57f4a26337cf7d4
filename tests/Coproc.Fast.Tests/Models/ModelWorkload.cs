using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Models;

/// <summary>One FILL or COPY of a <see cref="ModelWorkload"/>, on surface indices (COPY: same offset in both).</summary>
internal readonly record struct SurfaceOp(bool IsCopy, int Destination, int Source, ulong Offset, ulong Bytes, uint Pattern);

/// <summary>
/// The same logical workload — FILLs and COPYs over two surfaces, in batches — submitted the way each scheduling
/// model submits: the basic model's UMD → gate → KMD (handles, patching), the advanced model's user-built buffers in a
/// process's GPU VA space (demand faulting, run lists), and a ring-3 user queue with its doorbell. Returns the
/// surfaces' bytes once everything retired, read where VidMm says they live.
/// </summary>
internal static class ModelWorkload
{
    public const ulong SurfaceBytes = 256 << 10;

    public static CoprocessorOptions Device() => new()
    {
        LocalMemoryBytes = 16UL << 20, SystemMemoryBytes = 32UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0,
    };

    /// <summary>Random batches of operations (deterministic in <paramref name="seed"/>).</summary>
    public static List<SurfaceOp[]> Batches(int seed, int batches = 3, int perBatch = 4)
    {
        var random = new Random(seed);
        var result = new List<SurfaceOp[]>();
        for (int b = 0; b < batches; b++)
        {
            var ops = new SurfaceOp[perBatch];
            for (int i = 0; i < perBatch; i++)
            {
                int pages = (int)(SurfaceBytes / 4096), first = random.Next(pages);
                ulong off = (ulong)first * 4096, bytes = (ulong)random.Next(1, pages - first + 1) * 4096;
                int dst = random.Next(2);
                ops[i] = random.Next(3) == 0
                    ? new SurfaceOp(true, dst, 1 - dst, off, bytes, 0)
                    : new SurfaceOp(false, dst, dst, off, bytes, (uint)random.Next());
            }
            result.Add(ops);
        }
        return result;
    }

    /// <summary>What a CPU makes of the same operations.</summary>
    public static byte[][] CpuModel(IEnumerable<SurfaceOp[]> batches)
    {
        var s = new[] { new byte[SurfaceBytes], new byte[SurfaceBytes] };
        foreach (var batch in batches)
            foreach (var op in batch)
            {
                if (op.IsCopy) Array.Copy(s[op.Source], (int)op.Offset, s[op.Destination], (int)op.Offset, (int)op.Bytes);
                else
                    for (ulong i = 0; i < op.Bytes; i++) s[op.Destination][op.Offset + i] = (byte)(op.Pattern >> (int)(8 * (i & 3)));
            }
        return s;
    }

    /// <summary>
    /// Runs <paramref name="batches"/> in <paramref name="model"/> the way that model submits; returns both surfaces' bytes.
    /// <paramref name="options"/> may change the machine's options (model and device stay the workload's).
    /// </summary>
    public static byte[][] Run(SchedulingModel model, IReadOnlyList<SurfaceOp[]> batches, Func<MachineOptions, MachineOptions>? options = null) => model switch
    {
        SchedulingModel.Basic => RunKernelPath(batches, options),
        SchedulingModel.Advanced => RunUserBuffers(batches, options),
        _ => RunUserQueue(model, batches, EngineKind.Render, options),
    };

    private static MachineOptions Options(SchedulingModel model, Func<MachineOptions, MachineOptions>? options) =>
        (options ?? (o => o))(new MachineOptions { Model = model, Device = Device() }) with { Model = model };

    private static byte[][] RunKernelPath(IReadOnlyList<SurfaceOp[]> batches, Func<MachineOptions, MachineOptions>? options)
    {
        using var m = new Machine(Options(SchedulingModel.Basic, options));
        var ctx = m.CreateContext(1);
        var s = new[] { m.AllocateManaged(1, ctx, SurfaceBytes), m.AllocateManaged(1, ctx, SurfaceBytes) };
        var o = m.Scheduler.Options;
        var umd = new CommandBufferBuilder(m.Kmd.SinkFor(1, ctx), o.DmaBufferDwords, o.MaxReferences, o.MaxResourceId);
        foreach (var batch in batches)
        {
            foreach (var op in batch)
                if (op.IsCopy) umd.Copy(s[op.Source], op.Offset, s[op.Destination], op.Offset, op.Bytes);
                else umd.Fill(s[op.Destination], op.Offset, op.Pattern, op.Bytes);
            umd.Flush();
        }
        Assert.That(m.RunUntilIdle(), Is.True, "basic: everything retired");
        return [Read(m, s[0]), Read(m, s[1])];
    }

    private static byte[][] RunUserBuffers(IReadOnlyList<SurfaceOp[]> batches, Func<MachineOptions, MachineOptions>? options)
    {
        using var m = new Machine(Options(SchedulingModel.Advanced, options));
        var rl = m.RunListScheduler;
        var p = rl.CreateProcess();
        var ctx = rl.CreateContext(p);
        // Not resident and not listed: the first touch of each faults and VidMm pages it in (seed 001 §5.6).
        var s = new[] { p.AllocateSurface(SurfaceBytes), p.AllocateSurface(SurfaceBytes) };
        foreach (var batch in batches)
        {
            var buffer = p.CreateDmaBuffer(256);
            var w = buffer.Writer();
            foreach (var op in batch)
                if (op.IsCopy) w.Copy(s[op.Destination].Va + op.Offset, s[op.Source].Va + op.Offset, op.Bytes);
                else w.Fill(s[op.Destination].Va + op.Offset, op.Pattern, op.Bytes);
            Assert.That(rl.TrySubmit(ctx, buffer, w.Written, [], out _), Is.True);
        }
        Assert.That(m.RunUntilIdle(), Is.True, "advanced: everything retired");
        Assert.That(ctx.PageFaults, Is.GreaterThan(0), "the surfaces were demand-faulted in");
        return [Read(m, s[0].Handle), Read(m, s[1].Handle)];
    }

    /// <summary>What a user queue of the workload works on: its address space, two pinned surfaces and their VAs, a fence.</summary>
    public sealed record UserQueueSurfaces(GpuAddressSpace Space, AllocationHandle[] Surfaces, ulong[] Va, ulong FenceVa,
        Coproc.Fast.Device.Memory.PhysicalAddress Fence);

    /// <summary>Creates a fault-on-invalid address space with two zeroed pinned surfaces and a fence page mapped (under the kernel lock).</summary>
    public static UserQueueSurfaces CreateUserQueueSurfaces(Machine m)
    {
        lock (m.Scheduler.KernelLock)
        {
            var space = m.VidMm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
            AllocationHandle[] s = [Pinned(m), Pinned(m)];
            ulong[] va = [space.MapAllocation(s[0]), space.MapAllocation(s[1])];
            var page = m.VidMm.Allocate(VideoMemoryManager.PageSize, placement: PlacementHint.SystemOnly, flags: AllocationFlags.Contiguous);
            var fence = m.VidMm.PhysicalAddressOf(page, 0);
            m.Device.Memory.GetSpan(fence, (int)VideoMemoryManager.PageSize).Clear();
            return new UserQueueSurfaces(space, s, va, space.MapAllocation(page), fence);
        }
    }

    /// <summary>A ring-3 user queue of process 1 on <paramref name="engine"/> of a machine in <paramref name="model"/>.</summary>
    public static byte[][] RunUserQueue(SchedulingModel model, IReadOnlyList<SurfaceOp[]> batches, EngineKind engine,
        Func<MachineOptions, MachineOptions>? options = null)
    {
        using var m = new Machine(Options(model, options));
        var (space, s, va, fenceVa, fence) = CreateUserQueueSurfaces(m);
        var queue = m.CreateUserQueue(1, space, 0x100, engine).Open(m.Device.Memory);
        var packets = new uint[256];
        for (int b = 0; b < batches.Count; b++)
        {
            var w = new PacketWriter(packets);
            foreach (var op in batches[b])
                if (op.IsCopy) w.Copy(va[op.Destination] + op.Offset, va[op.Source] + op.Offset, op.Bytes);
                else w.Fill(va[op.Destination] + op.Offset, op.Pattern, op.Bytes);
            w.Fence(fenceVa, (ulong)b + 1);
            Write(queue, w.WrittenSpan);
            queue.Flush(); // publish + one doorbell write: no gate crossing
        }
        ulong last = (ulong)batches.Count;
        Assert.That(m.RunUntil(() => m.Device.Memory.Read64(fence) >= last, 2_000_000_000), Is.True, $"{model}: the user queue retired every batch");
        // The machine steps while the scheduling core has work (WORK_PENDING bit 8), so the condition is seen soon after
        // the last fence, not after one jump over the whole budget.
        Assert.That(m.Now, Is.LessThan(100_000_000UL), $"{model}: RunUntil stopped near the queue's last fence");
        return [Read(m, s[0]), Read(m, s[1])];
    }

    private static AllocationHandle Pinned(Machine m)
    {
        var h = m.VidMm.Allocate(SurfaceBytes, placement: PlacementHint.PreferLocal, flags: AllocationFlags.Contiguous);
        m.Device.Memory.GetSpan(m.VidMm.PhysicalAddressOf(h, 0), (int)SurfaceBytes).Clear();
        return h;
    }

    /// <summary>The first <paramref name="bytes"/> of an allocation where VidMm says they live now (every extent, in order).</summary>
    public static byte[] Read(Machine m, AllocationHandle h, int bytes = (int)SurfaceBytes)
    {
        var result = new List<byte>(bytes);
        foreach (var e in m.VidMm.ExtentsOf(h)) result.AddRange(m.Device.Memory.GetSpan(e.Address, (int)e.Bytes).ToArray());
        return [.. result.Take(bytes)];
    }

    /// <summary>Writes whole packets into a user queue (no publish), asserting there is room.</summary>
    public static void Write(UserQueue queue, ReadOnlySpan<uint> packets)
    {
        for (int off = 0; off < packets.Length;)
        {
            int len = new PacketHeader(packets[off]).LengthDwords;
            Assert.That(queue.TryWrite(packets.Slice(off, len)), Is.True, "room in the queue");
            off += len;
        }
    }
}
