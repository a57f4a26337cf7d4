using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Rings;

namespace Coproc.Fast.Driver.Umd;

// Design: the ring-3 producer of one user queue (seed 003 "submission, every time, in ring 3").
// Single writer: exactly one thread owns a UserQueue, so every field of this object is producer-owned and needs no
// synchronisation. The state shared with the device is the descriptor in memory (native-layout.md §10): WritePtr
// (+64, written only here) and ReadPtr (+128, written only by the device) on separate cache lines. Both are
// free-running byte counts; free space = SizeBytes - (write - read). We keep a stale copy of ReadPtr and re-read the
// real one only when the ring looks full (STYLE.md, .NET's SPSC queue), so the common path touches no shared line
// except the WritePtr store at Publish and the doorbell write.
// Ordering: packet bytes are plain stores, WritePtr is a release store after them (Publish), and the doorbell write
// is an atomic OR in the doorbell block after that — the device, which reads WritePtr with an acquire load after
// taking the doorbell snapshot, sees every byte up to WritePtr. ReadPtr is read with an acquire load, so the device's
// reads of the bytes it retired happen before we overwrite them.
// Packets never straddle the end: when a packet does not fit before the end, the gap is filled with one NOP packet
// (a chain of NOPs if the gap exceeds the 65,535-dword packet limit) and the packet starts at index 0.
/// <summary>
/// The ring-3 writer of a user queue: <see cref="TryGetSpan"/>/<see cref="Advance"/> (or <see cref="TryWrite"/>) to
/// add packets, <see cref="Publish"/> + <see cref="RingDoorbell"/> (or <see cref="Flush"/>) to hand them to the device —
/// one doorbell for any number of packets. <see cref="TrySubmit"/> reports a full queue; <see cref="Submit"/> waits
/// with a <see cref="UserQueueWaitStrategy"/>. No lock, no allocation, no ring-0 entry.
/// </summary>
[SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "A ring-3 user-mode queue (seed 003), not a collection; a public name used by callers and the docs.")]
public sealed unsafe class UserQueue
{
    private readonly RingDescriptor* _descriptor;
    private readonly byte* _ring;
    private readonly uint _size;
    private readonly uint _mask;
    private readonly DoorbellPage _doorbell;
    private ulong _write;       // bytes written (reserved and advanced); ahead of _published until Publish
    private ulong _published;   // last WritePtr stored to the descriptor
    private ulong _cachedRead;  // stale copy of the device's ReadPtr
    private int _reserved;      // bytes handed out by the last TryGetSpan

    /// <summary>
    /// Opens the queue whose descriptor the kernel initialised at <paramref name="descriptor"/> (its Base and SizeBytes
    /// name the ring), writing through <paramref name="doorbell"/>. <paramref name="memory"/> is this process's mapping
    /// of device memory.
    /// </summary>
    /// <exception cref="ArgumentException">The descriptor or ring is misplaced or malformed.</exception>
    public UserQueue(DeviceMemory memory, PhysicalAddress descriptor, DoorbellPage doorbell)
    {
        ArgumentNullException.ThrowIfNull(memory);
        _descriptor = (RingDescriptor*)memory.TryPointer(descriptor.Location, descriptor.Offset, RingDescriptor.SizeInBytes);
        if (_descriptor == null || (descriptor.Offset & 63) != 0)
            throw new ArgumentException($"ring descriptor at {descriptor} is outside memory or not 64-byte aligned", nameof(descriptor));
        _size = _descriptor->SizeBytes;
        if (_size < 4096 || _size > (16u << 20) || !BitOperations.IsPow2(_size))
            throw new ArgumentException($"ring size {_size} is not a power of two in 4 KiB .. 16 MiB", nameof(descriptor));
        if (!PhysicalAddress.TryDecode(_descriptor->Base, out var ringBase) || (ringBase.Offset & 0xFFF) != 0)
            throw new ArgumentException($"ring base 0x{_descriptor->Base:X16} is not a 4 KiB-aligned physical address", nameof(descriptor));
        _ring = memory.TryPointer(ringBase.Location, ringBase.Offset, _size);
        if (_ring == null) throw new ArgumentException($"ring {ringBase}+0x{_size:X} is outside memory", nameof(descriptor));
        _mask = _size - 1;
        _doorbell = doorbell;
        _write = _published = Volatile.Read(ref _descriptor->WritePtr);
        _cachedRead = Volatile.Read(ref _descriptor->ReadPtr);
        Descriptor = descriptor;
        MaxPacketBytes = (int)Math.Min(_size / 2, 0xFFFFu * 4);
    }

    // Machine.TrySubmit's writer (UserQueueContext.SubmissionWriter): continue from the WritePtr published now, as a
    // writer opened now would, dropping what this one wrote and did not publish.
    internal void ResyncToPublished()
    {
        _write = _published = Volatile.Read(ref _descriptor->WritePtr);
        _cachedRead = Volatile.Read(ref _descriptor->ReadPtr);
        _reserved = 0;
    }

    /// <summary>Where the descriptor lives.</summary>
    public PhysicalAddress Descriptor { get; }

    /// <summary>The queue's doorbell.</summary>
    public int Doorbell => _doorbell.Doorbell;

    /// <summary>Ring size in bytes.</summary>
    public uint SizeBytes => _size;

    /// <summary>Largest packet accepted: half the ring (so a packet plus end-of-ring padding always fits) and ≤ 65,535 dwords.</summary>
    public int MaxPacketBytes { get; }

    /// <summary>Bytes written so far (the WritePtr the next <see cref="Publish"/> stores).</summary>
    public ulong WritePosition => _write;

    /// <summary>The WritePtr last published to the device.</summary>
    public ulong PublishedWritePtr => _published;

    /// <summary>The device's ReadPtr, read now (acquire).</summary>
    public ulong DeviceReadPtr => Volatile.Read(ref _descriptor->ReadPtr);

    /// <summary>
    /// Reserves <paramref name="bytes"/> contiguous bytes (a multiple of 4) for one packet, padding to the end of the ring
    /// with a NOP first when needed. False when the queue is full (nothing reserved, though padding may be written).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGetSpan(int bytes, out Span<byte> span)
    {
        if ((uint)(bytes - 4) > (uint)(MaxPacketBytes - 4) || (bytes & 3) != 0) ThrowPacketSize(bytes);
        uint index = (uint)_write & _mask;
        uint pad = index + (uint)bytes > _size ? _size - index : 0;
        if (_write + pad + (uint)bytes - _cachedRead > _size && !HasSpaceSlow(pad + (uint)bytes))
        {
            span = default;
            return false;
        }
        if (pad != 0)
        {
            WritePadding(index, pad);
            _write += pad;
            index = 0;
        }
        _reserved = bytes;
        span = new Span<byte>(_ring + index, bytes);
        return true;
    }

    /// <summary>Commits <paramref name="bytes"/> of the span from the last <see cref="TryGetSpan"/> (not yet visible to the device).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Advance(int bytes)
    {
        if ((uint)bytes > (uint)_reserved || (bytes & 3) != 0) ThrowAdvance(bytes);
        _write += (uint)bytes;
        _reserved = 0;
    }

    /// <summary>Copies one whole packet (its header's length must equal the span's) into the queue without publishing it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryWrite(ReadOnlySpan<uint> packet)
    {
        if (packet.IsEmpty || new PacketHeader(packet[0]).LengthDwords != packet.Length) ThrowPacket(packet.Length, nameof(packet));
        if (!TryGetSpan(packet.Length * 4, out var span)) return false;
        MemoryMarshal.AsBytes(packet).CopyTo(span);
        _write += (uint)(packet.Length * 4);
        _reserved = 0;
        return true;
    }

    /// <summary>Makes everything written so far visible to the device (release store of WritePtr).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Publish()
    {
        // ring-3 work accepted (no gate, no VidSch); the Enabled test keeps the call off the path when nobody listens
        if (_write != _published && Diagnostics.CoprocMetrics.Submissions.Enabled) Diagnostics.CoprocMetrics.Submissions.Add(1);
        Volatile.Write(ref _descriptor->WritePtr, _write);
        _published = _write;
    }

    /// <summary>Writes the doorbell page: the doorbell block records the ring and interrupts the scheduling core.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void RingDoorbell()
    {
        _doorbell.Ring((uint)_published);
        if (Diagnostics.CoprocMetrics.Doorbells.Enabled) Diagnostics.CoprocMetrics.Doorbells.Add(1);
    }

    /// <summary>Publishes and rings once for all packets written since the last flush; nothing when there are none.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Flush()
    {
        if (_write == _published) return;
        Publish();
        RingDoorbell();
    }

    /// <summary>Writes, publishes and rings for one packet; false when the queue is full (nothing submitted).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TrySubmit(ReadOnlySpan<uint> packet)
    {
        if (!TryWrite(packet)) return false;
        Flush();
        return true;
    }

    /// <summary>Writes one packet, waiting for space per <paramref name="strategy"/>; does not publish.</summary>
    /// <exception cref="UserQueueFullException">The strategy's timeout passed.</exception>
    public void Write(ReadOnlySpan<uint> packet, in UserQueueWaitStrategy strategy)
    {
        if (!TryWrite(packet)) WaitAndWriteSlow(packet, strategy);
    }

    /// <summary>Writes, publishes and rings for one packet, waiting for space per <paramref name="strategy"/>.</summary>
    /// <exception cref="UserQueueFullException">The strategy's timeout passed.</exception>
    public void Submit(ReadOnlySpan<uint> packet, in UserQueueWaitStrategy strategy)
    {
        Write(packet, strategy);
        Flush();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WaitAndWriteSlow(ReadOnlySpan<uint> packet, in UserQueueWaitStrategy strategy)
    {
        Flush(); // the device can only make room if it can see (and has been told about) what we wrote
        long start = Stopwatch.GetTimestamp();
        for (long i = 0; ; i++)
        {
            if (i < strategy.SpinIterations) Thread.SpinWait(16);
            else if (i - strategy.SpinIterations < strategy.YieldIterations) Thread.Yield();
            else
            {
                var waited = Stopwatch.GetElapsedTime(start);
                if (strategy.Timeout != Timeout.InfiniteTimeSpan && waited >= strategy.Timeout)
                    throw new UserQueueFullException(Doorbell, packet.Length * 4, _size - (_write - DeviceReadPtr), waited);
                Thread.Sleep(Math.Max(1, strategy.BlockMilliseconds));
            }
            if (TryWrite(packet)) return;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool HasSpaceSlow(uint needed)
    {
        _cachedRead = Volatile.Read(ref _descriptor->ReadPtr);
        return _write + needed - _cachedRead <= _size;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WritePadding(uint index, uint pad)
    {
        // One NOP packet to the end of the ring (a chain when the gap exceeds the header's 65,535-dword length).
        while (pad != 0)
        {
            uint dwords = Math.Min(pad / 4, 0xFFFFu);
            *(uint*)(_ring + index) = PacketHeader.Make(Opcode.Nop, (int)dwords);
            index += dwords * 4;
            pad -= dwords * 4;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowPacketSize(int bytes) =>
        throw new ArgumentOutOfRangeException(nameof(bytes), bytes, $"a packet must be a multiple of 4 bytes in 4..{MaxPacketBytes}");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowAdvance(int bytes) =>
        throw new ArgumentOutOfRangeException(nameof(bytes), bytes, $"advance must be a multiple of 4 and at most the {_reserved} bytes reserved");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowPacket(int length, string paramName) =>
        throw new ArgumentException($"packet of {length} dwords does not match its header's length field", paramName);
}
