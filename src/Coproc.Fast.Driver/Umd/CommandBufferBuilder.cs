using System.Runtime.CompilerServices;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Microsoft.Extensions.ObjectPool;

namespace Coproc.Fast.Driver.Umd;

/// <summary>
/// The user-mode driver's command-buffer builder (seed 001 §3.1 steps 3–4, §3.2), in the <c>GetSpan/Advance/Flush</c>
/// shape of System.IO.Pipelines. It emits packets in the device format (native-layout.md §8) except that every memory
/// operand holds an <b>offset inside an allocation</b> and is named by one resource-list entry
/// (<see cref="ResourceReference"/>: handle, the packet's byte offset — a candidate split point, §3.4 — resource id,
/// write flag). The kernel validates, copies and patches it (native-layout.md "Command buffers, resource lists and
/// patching"). Flushes when the buffer is full, after an urgent command, or on <see cref="Flush"/>.
/// </summary>
/// <remarks>
/// Design: one pooled <see cref="CommandBuffer"/> at a time (Microsoft.Extensions.ObjectPool), so a command costs
/// a few stores and no allocation in steady state. Not thread-safe: one builder per submitting thread, as a UMD
/// keeps one per device context.
/// </remarks>
public sealed partial class CommandBufferBuilder
{
    private readonly ObjectPool<CommandBuffer> _pool;
    private readonly ICommandBufferSink _sink;
    private CommandBuffer _buffer;
    private int _packetStart = -1;

    /// <summary>Creates a builder flushing into <paramref name="sink"/>.</summary>
    /// <param name="sink">The runtime's path to the kernel.</param>
    /// <param name="capacityDwords">Dwords per command buffer (a full buffer flushes).</param>
    /// <param name="capacityReferences">Resource-list entries per command buffer.</param>
    /// <param name="maxResourceId">Highest resource id, declared at start-up (seed 001 §3.2).</param>
    public CommandBufferBuilder(ICommandBufferSink sink, int capacityDwords = 4096, int capacityReferences = 256, ushort maxResourceId = 15)
    {
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityDwords, 16);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityReferences, 2);
        _sink = sink;
        MaxResourceId = maxResourceId;
        _pool = new DefaultObjectPool<CommandBuffer>(new CommandBuffer.Policy(capacityDwords, capacityReferences), 2);
        _buffer = _pool.Get();
    }

    /// <summary>Highest resource id a reference may use.</summary>
    public ushort MaxResourceId { get; }

    /// <summary>Command buffers flushed so far.</summary>
    public long Flushes { get; private set; }

    /// <summary>Dwords written into the current command buffer.</summary>
    public int PendingDwords => _buffer.DwordCount;

    /// <summary>Resource-list entries in the current command buffer.</summary>
    public int PendingReferences => _buffer.ReferenceCount;

    /// <summary>
    /// Space for one packet of <paramref name="dwords"/> dwords with <paramref name="references"/> memory operands;
    /// flushes first if the current buffer cannot hold it. Follow with <see cref="Reference"/> per operand (in the
    /// packet's field order) and <see cref="Advance"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The packet can never fit one command buffer.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Span<uint> GetSpan(int dwords, int references = 0)
    {
        var b = _buffer;
        if (b.DwordCount + dwords > b.Dwords.Length || b.ReferenceCount + references > b.References.Length)
            b = FlushForSpace(dwords, references);
        _packetStart = b.DwordCount;
        return b.Dwords.AsSpan(b.DwordCount, dwords);
    }

    /// <summary>
    /// Records a memory operand of the packet being written: the operand's two dwords hold
    /// <c>offset inside <paramref name="allocation"/></c>; the entry's buffer offset is the packet's byte offset.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Resource id above <see cref="MaxResourceId"/>.</exception>
    /// <exception cref="InvalidOperationException">No packet is being written (call <see cref="GetSpan"/> first), or the
    /// command buffer's resource list is full (more operands than <see cref="GetSpan"/> reserved); nothing is recorded.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Reference(AllocationHandle allocation, ushort resourceId, bool write)
    {
        if (resourceId > MaxResourceId) ThrowResourceId(resourceId);
        if (_packetStart < 0) ThrowNoPacket();
        var b = _buffer;
        int n = b.ReferenceCount;
        // More operands than GetSpan reserved room for: refuse before counting (a post-increment would leave the
        // count past the list's end and the builder unable to flush).
        if ((uint)n >= (uint)b.References.Length) ThrowReferencesFull(b.References.Length);
        b.References[n] = new ResourceReference(allocation, (uint)_packetStart * 4, resourceId, write);
        b.ReferenceCount = n + 1;
    }

    /// <summary>Commits <paramref name="dwords"/> dwords of the packet obtained from <see cref="GetSpan"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Advance(int dwords)
    {
        var b = _buffer;
        if (dwords < 0 || b.DwordCount + dwords > b.Dwords.Length) ThrowAdvance(dwords);
        b.DwordCount += dwords;
        _packetStart = -1;
    }

    // The current command buffer, not flushed: Machine.TrySubmit hands a one-buffer recording to the KMD itself, from the
    // builder's own storage (no copy), then discards it — also after a recording that threw, so the builder is reusable.
    internal ReadOnlySpan<uint> PendingCommands => _buffer.WrittenDwords;

    internal ReadOnlySpan<ResourceReference> PendingResources => _buffer.WrittenReferences;

    internal void Discard()
    {
        _buffer.Reset();
        _packetStart = -1;
    }

    /// <summary>Hands the current command buffer to the kernel (if it holds anything) and starts a fresh one.</summary>
    public void Flush()
    {
        var b = _buffer;
        _packetStart = -1;
        if (b.DwordCount == 0) return;
        try { _sink.Submit(b.WrittenDwords, b.WrittenReferences); }
        finally
        {
            _pool.Return(b);
            _buffer = _pool.Get();
            Flushes++;
        }
    }

    /// <summary>COPY <paramref name="bytes"/> from (<paramref name="source"/>, offset) to (<paramref name="destination"/>, offset).</summary>
    public void Copy(AllocationHandle source, ulong sourceOffset, AllocationHandle destination, ulong destinationOffset, ulong bytes,
        ushort sourceId = 2, ushort destinationId = 0)
    {
        var s = GetSpan(PacketFormat.CopyDwords, 2);
        s[0] = PacketHeader.Make(Opcode.Copy, PacketFormat.CopyDwords);
        Put(s, 1, sourceOffset);
        Put(s, 3, destinationOffset);
        Put(s, 5, bytes);
        Reference(source, sourceId, write: false);
        Reference(destination, destinationId, write: true);
        Advance(PacketFormat.CopyDwords);
    }

    /// <summary>FILL <paramref name="bytes"/> of (<paramref name="destination"/>, offset) with a 32-bit pattern.</summary>
    public void Fill(AllocationHandle destination, ulong offset, uint pattern, ulong bytes, ushort resourceId = 0)
    {
        var s = GetSpan(PacketFormat.FillDwords, 1);
        s[0] = PacketHeader.Make(Opcode.Fill, PacketFormat.FillDwords);
        Put(s, 1, offset);
        s[3] = pattern;
        Put(s, 4, bytes);
        Reference(destination, resourceId, write: true);
        Advance(PacketFormat.FillDwords);
    }

    /// <summary>WRITE_DATA of <paramref name="data"/> at (<paramref name="destination"/>, offset).</summary>
    public void WriteData(AllocationHandle destination, ulong offset, scoped ReadOnlySpan<uint> data, ushort resourceId = 0)
    {
        int len = PacketFormat.WriteDataFixedDwords + data.Length;
        if (data.IsEmpty) throw new ArgumentException("WRITE_DATA needs at least one dword", nameof(data));
        var s = GetSpan(len, 1);
        s[0] = PacketHeader.Make(Opcode.WriteData, len);
        Put(s, 1, offset);
        data.CopyTo(s[3..]);
        Reference(destination, resourceId, write: true);
        Advance(len);
    }

    /// <summary>SIGNAL the 32-bit counter at (<paramref name="counter"/>, offset); <paramref name="urgent"/> flushes at once (§3.1 step 4).</summary>
    public void Signal(AllocationHandle counter, ulong offset, ushort resourceId = 3, bool urgent = false) =>
        Counter(Opcode.Signal, counter, offset, resourceId, urgent);

    /// <summary>WAIT on the 32-bit counter at (<paramref name="counter"/>, offset).</summary>
    public void Wait(AllocationHandle counter, ulong offset, ushort resourceId = 3) =>
        Counter(Opcode.Wait, counter, offset, resourceId, false);

    /// <summary>A regular FENCE writing <paramref name="value"/> at (<paramref name="destination"/>, offset); <paramref name="urgent"/> flushes at once.</summary>
    public void Fence(AllocationHandle destination, ulong offset, ulong value, ushort resourceId = 3, bool urgent = false)
    {
        var s = GetSpan(PacketFormat.FenceDwords, 1);
        s[0] = PacketHeader.Make(Opcode.Fence, PacketFormat.FenceDwords);
        Put(s, 1, offset);
        Put(s, 3, value);
        Reference(destination, resourceId, write: true);
        Advance(PacketFormat.FenceDwords);
        if (urgent) Flush();
    }

    /// <summary>A NOP of <paramref name="dwords"/> dwords (no memory operand).</summary>
    public void Nop(int dwords = 1)
    {
        var s = GetSpan(dwords);
        s[0] = PacketHeader.Make(Opcode.Nop, dwords);
        s[1..].Clear();
        Advance(dwords);
    }

    private void Counter(Opcode op, AllocationHandle counter, ulong offset, ushort resourceId, bool urgent)
    {
        var s = GetSpan(PacketFormat.CounterDwords, 1);
        s[0] = PacketHeader.Make(op, PacketFormat.CounterDwords);
        Put(s, 1, offset);
        Reference(counter, resourceId, write: true);
        Advance(PacketFormat.CounterDwords);
        if (urgent) Flush();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put(Span<uint> s, int at, ulong value)
    {
        s[at] = (uint)value;
        s[at + 1] = (uint)(value >> 32);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private CommandBuffer FlushForSpace(int dwords, int references)
    {
        var b = _buffer;
        if (dwords <= 0 || dwords > b.Dwords.Length || references > b.References.Length)
            throw new ArgumentOutOfRangeException(nameof(dwords), $"a packet of {dwords} dwords / {references} references never fits a command buffer of {b.Dwords.Length} / {b.References.Length}");
        Flush(); // seed 001 §3.1 step 4: a full command buffer is flushed
        return _buffer;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowResourceId(ushort id) =>
        throw new ArgumentOutOfRangeException(nameof(id), $"resource id {id} exceeds the declared maximum {MaxResourceId}");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowReferencesFull(int capacity) =>
        throw new InvalidOperationException($"the command buffer's resource list is full ({capacity} entries): reserve the operands in GetSpan");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNoPacket() => throw new InvalidOperationException("Reference must follow GetSpan for the packet it belongs to");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowAdvance(int dwords) => throw new ArgumentOutOfRangeException(nameof(dwords), $"cannot advance by {dwords}");
}
