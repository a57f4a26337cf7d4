using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Driver;

/// <summary>
/// Records one submission for <see cref="Machine.TrySubmit"/> in terms every scheduling model understands: memory
/// operands are (allocation, offset) of allocations the context's process owns or shares. Each model's submission path
/// turns them into its own packets (docs/models.md "One submission call"): the kernel path into a command buffer whose
/// handles the KMD patches, the run lists and user queues into packets with the process's GPU virtual addresses.
/// </summary>
public abstract class WorkRecorder
{
    private protected WorkRecorder() { }

    /// <summary>FILL <paramref name="bytes"/> of (<paramref name="target"/>, <paramref name="offset"/>) with <paramref name="pattern"/>.</summary>
    public abstract void Fill(AllocationHandle target, ulong offset, uint pattern, ulong bytes);

    /// <summary>COPY <paramref name="bytes"/> from (<paramref name="source"/>, offset) to (<paramref name="destination"/>, offset).</summary>
    public abstract void Copy(AllocationHandle destination, ulong destinationOffset, AllocationHandle source, ulong sourceOffset, ulong bytes);

    /// <summary>WRITE_DATA of one dword at (<paramref name="target"/>, <paramref name="offset"/>).</summary>
    public abstract void WriteData(AllocationHandle target, ulong offset, uint value);

    /// <summary>A write FENCE of <paramref name="value"/> at (<paramref name="target"/>, <paramref name="offset"/>) once earlier work is visible.</summary>
    public abstract void Fence(AllocationHandle target, ulong offset, ulong value);

    /// <summary>WAIT on the counter at (<paramref name="counter"/>, <paramref name="offset"/>) (seed 001 §8.4).</summary>
    public abstract void Wait(AllocationHandle counter, ulong offset);

    /// <summary>SIGNAL the counter at (<paramref name="counter"/>, <paramref name="offset"/>).</summary>
    public abstract void Signal(AllocationHandle counter, ulong offset);

    /// <summary>TRAP <paramref name="id"/>: an interrupt once everything before it retired.</summary>
    public abstract void Trap(uint id);

    /// <summary>
    /// DRAW_RECTS into <paramref name="surface"/> of <paramref name="target"/>; the surface's <see cref="Surface.Va"/> is an
    /// offset inside the allocation.
    /// </summary>
    public abstract void DrawRects(AllocationHandle target, in Surface surface, ReadOnlySpan<RectPrimitive> primitives);

    /// <summary>The allocations the recording named, in first-use order.</summary>
    internal List<AllocationHandle> Named { get; } = new();

    private protected void Name(AllocationHandle h)
    {
        if (!Named.Contains(h)) Named.Add(h);
    }
}

/// <summary>The kernel path's recorder: the UMD's command-buffer builder (handles and resource-list entries, patched by the KMD).</summary>
internal sealed class KernelPathRecorder(CommandBufferBuilder b) : WorkRecorder
{
    public override void Fill(AllocationHandle target, ulong offset, uint pattern, ulong bytes) => b.Fill(target, offset, pattern, bytes);

    public override void Copy(AllocationHandle destination, ulong destinationOffset, AllocationHandle source, ulong sourceOffset, ulong bytes) =>
        b.Copy(source, sourceOffset, destination, destinationOffset, bytes);

    public override void WriteData(AllocationHandle target, ulong offset, uint value) => b.WriteData(target, offset, [value]);

    public override void Fence(AllocationHandle target, ulong offset, ulong value) => b.Fence(target, offset, value);

    public override void Wait(AllocationHandle counter, ulong offset) => b.Wait(counter, offset);

    public override void Signal(AllocationHandle counter, ulong offset) => b.Signal(counter, offset);

    public override void Trap(uint id)
    {
        var s = b.GetSpan(2);
        s[0] = PacketHeader.Make(Opcode.Trap, 2);
        s[1] = id;
        b.Advance(2);
    }

    public override void DrawRects(AllocationHandle target, in Surface surface, ReadOnlySpan<RectPrimitive> primitives) =>
        b.DrawRects(target, surface, primitives);
}

/// <summary>
/// The VA paths' recorder: packets with the process's GPU virtual addresses (<paramref name="vaOf"/> maps on first use and
/// gives the allocation's size in the KMD's record). Invariant: every operand lies inside its allocation, checked as the
/// KMD checks a kernel-path buffer (<see cref="CommandBufferRejection.OutOfBounds"/>), so an operand past an allocation's
/// end is refused before anything is written instead of reaching whatever the process has mapped after it.
/// </summary>
internal sealed class VaRecorder(Func<AllocationHandle, (ulong Va, ulong Bytes)> vaOf) : WorkRecorder
{
    private uint[] _dwords = new uint[256];
    private int _written;

    public ReadOnlySpan<uint> Written => _dwords.AsSpan(0, _written);

    private ulong Va(AllocationHandle h, ulong offset, ulong length)
    {
        Name(h);
        var (va, bytes) = vaOf(h);
        if (offset > bytes || length > bytes - offset)
            throw new CommandBufferRejectedException(CommandBufferRejection.OutOfBounds, _written,
                $"{length} bytes at offset {offset} of {h}, which holds {bytes}");
        return va + offset;
    }

    private Span<uint> Reserve(int dwords)
    {
        if (_written + dwords > _dwords.Length) Array.Resize(ref _dwords, Math.Max(_dwords.Length * 2, _written + dwords));
        return _dwords.AsSpan(_written);
    }

    private void Put(PacketWriter w) => _written += w.Written;

    public override void Fill(AllocationHandle target, ulong offset, uint pattern, ulong bytes)
    {
        ulong va = Va(target, offset, bytes);
        var w = new PacketWriter(Reserve(8));
        w.Fill(va, pattern, bytes);
        Put(w);
    }

    public override void Copy(AllocationHandle destination, ulong destinationOffset, AllocationHandle source, ulong sourceOffset, ulong bytes)
    {
        ulong dst = Va(destination, destinationOffset, bytes), src = Va(source, sourceOffset, bytes);
        var w = new PacketWriter(Reserve(8));
        w.Copy(dst, src, bytes);
        Put(w);
    }

    public override void WriteData(AllocationHandle target, ulong offset, uint value)
    {
        ulong va = Va(target, offset, 4);
        var w = new PacketWriter(Reserve(8));
        w.WriteData(va, value);
        Put(w);
    }

    public override void Fence(AllocationHandle target, ulong offset, ulong value)
    {
        ulong va = Va(target, offset, 8);
        var w = new PacketWriter(Reserve(8));
        w.Fence(va, value);
        Put(w);
    }

    public override void Wait(AllocationHandle counter, ulong offset)
    {
        ulong va = Va(counter, offset, 4);
        var w = new PacketWriter(Reserve(8));
        w.Wait(va);
        Put(w);
    }

    public override void Signal(AllocationHandle counter, ulong offset)
    {
        ulong va = Va(counter, offset, 4);
        var w = new PacketWriter(Reserve(8));
        w.Signal(va);
        Put(w);
    }

    public override void Trap(uint id)
    {
        var w = new PacketWriter(Reserve(8));
        w.Trap(id);
        Put(w);
    }

    public override void DrawRects(AllocationHandle target, in Surface surface, ReadOnlySpan<RectPrimitive> primitives)
    {
        // The bytes the surface covers, pitch × (height − 1) + width × 4 (native-layout.md §8A.1), as the KMD checks them: a
        // one-row surface may have any pitch, so pitch × height would let its row run past the allocation's end.
        var s = surface with { Va = Va(target, surface.Va, surface.SpanBytes) };
        int n = DrawRectsPacket.SizeInDwords(primitives.Length);
        DrawRectsPacket.Encode(Reserve(n)[..n], s, primitives);
        _written += n;
    }
}
