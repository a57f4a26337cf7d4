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

    /// <summary><see cref="Named"/> as a span (valid until the next recording).</summary>
    internal ReadOnlySpan<AllocationHandle> NamedSpan => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(Named);

    private protected void Name(AllocationHandle h)
    {
        if (!Named.Contains(h)) Named.Add(h);
    }
}

/// <summary>
/// The kernel path's recorder: the UMD's command-buffer builder (handles and resource-list entries, patched by the KMD).
/// Records only while <see cref="Active"/> (inside the TrySubmit call that handed it out).
/// </summary>
internal sealed class KernelPathRecorder(CommandBufferBuilder b) : WorkRecorder
{
    public bool Active { get; set; }

    private CommandBufferBuilder B => Active ? b
        : throw new InvalidOperationException("a WorkRecorder is used only inside the Machine.TrySubmit call that handed it out");

    public override void Fill(AllocationHandle target, ulong offset, uint pattern, ulong bytes) => B.Fill(target, offset, pattern, bytes);

    public override void Copy(AllocationHandle destination, ulong destinationOffset, AllocationHandle source, ulong sourceOffset, ulong bytes) =>
        B.Copy(source, sourceOffset, destination, destinationOffset, bytes);

    public override void WriteData(AllocationHandle target, ulong offset, uint value) => B.WriteData(target, offset, [value]);

    public override void Fence(AllocationHandle target, ulong offset, ulong value) => B.Fence(target, offset, value);

    public override void Wait(AllocationHandle counter, ulong offset) => B.Wait(counter, offset);

    public override void Signal(AllocationHandle counter, ulong offset) => B.Signal(counter, offset);

    public override void Trap(uint id)
    {
        var builder = B;
        var s = builder.GetSpan(2);
        s[0] = PacketHeader.Make(Opcode.Trap, 2);
        s[1] = id;
        builder.Advance(2);
    }

    public override void DrawRects(AllocationHandle target, in Surface surface, ReadOnlySpan<RectPrimitive> primitives) =>
        B.DrawRects(target, surface, primitives);
}

/// <summary>
/// The VA paths' recorder: packets with the process's GPU virtual addresses (<see cref="Machine"/>'s submission VA of each
/// allocation: mapped on first use, with the allocation's size in the KMD's record). Invariant: every operand lies inside
/// its allocation, checked as the KMD checks a kernel-path buffer (<see cref="CommandBufferRejection.OutOfBounds"/>), so an
/// operand past an allocation's end is refused before anything is written instead of reaching whatever the process has
/// mapped after it. Reused from call to call (<see cref="Begin"/>, <see cref="End"/>).
/// </summary>
internal sealed class VaRecorder : WorkRecorder
{
    private uint[] _dwords = new uint[256];
    private int _written;
    private Machine? _machine;
    private MachineProcess? _process;

    public ReadOnlySpan<uint> Written => _dwords.AsSpan(0, _written);

    /// <summary>Starts a recording for <paramref name="process"/>'s space: nothing written, nothing named.</summary>
    public void Begin(Machine machine, MachineProcess process)
    {
        (_machine, _process) = (machine, process);
        _written = 0;
        Named.Clear();
    }

    /// <summary>Ends the recording: what it wrote and named is dropped and it no longer refers to the machine.</summary>
    public void End()
    {
        (_machine, _process) = (null, null);
        _written = 0;
        Named.Clear();
    }

    private ulong Va(AllocationHandle h, ulong offset, ulong length)
    {
        if (_machine is not { } m || _process is not { } p)
            throw new InvalidOperationException("a WorkRecorder is used only inside the Machine.TrySubmit call that handed it out");
        Name(h);
        var (va, bytes) = m.SubmissionVa(p, h);
        // The operand's first byte lies inside the allocation, even for zero bytes, exactly as the KMD checks it
        // (KmdValidator; docs/containment.md "A zero-length operand at an offset equal to the allocation's size").
        if (offset >= bytes || length > bytes - offset)
            throw new CommandBufferRejectedException(CommandBufferRejection.OutOfBounds, _written,
                $"{length} bytes at offset {offset} of {h}, which holds {bytes}");
        return va + offset;
    }

    private Span<uint> Reserve(int dwords)
    {
        if (_machine is null)
            throw new InvalidOperationException("a WorkRecorder is used only inside the Machine.TrySubmit call that handed it out");
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
