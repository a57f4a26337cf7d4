using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Rings;
using Coproc.Fast.Driver.Kernel;

namespace Coproc.Fast.Driver.VidMm.Paging;

/// <summary>
/// A kernel-owned device context (native-layout.md §10–§11): one pinned local page holding the save area (offset 0)
/// and the ring descriptor (offset 256), a pinned ring, and an address space chosen by the kernel (the kernel view for
/// VidMm's paging context, seed 001 behaviour 17). The kernel is the ring's only producer; it writes packets, pads
/// the ring's end with one NOP and publishes WritePtr, exactly as native-layout.md §10.2 asks.
/// </summary>
public sealed class KernelContext
{
    private const ulong DescriptorOffset = 256;
    private readonly VideoMemoryManager _vidmm;
    private readonly PlacementHint _ringPlacement;

    /// <summary>
    /// Allocates and initialises the context for address space <paramref name="space"/>: its control page in pinned local
    /// memory, its ring pinned where <paramref name="ringPlacement"/> says (local memory unless asked otherwise).
    /// </summary>
    /// <exception cref="ArgumentException">Ring size not a power of two in 4 KiB … 16 MiB.</exception>
    public KernelContext(VideoMemoryManager vidmm, AddressSpaceDescriptor space, uint contextId, uint ringBytes = 16 << 10,
        PlacementHint ringPlacement = PlacementHint.LocalOnly)
    {
        _vidmm = vidmm ?? throw new ArgumentNullException(nameof(vidmm));
        if (ringBytes < 4096 || ringBytes > 16u << 20 || (ringBytes & (ringBytes - 1)) != 0)
            throw new ArgumentException($"ring size {ringBytes} is not a power of two in 4 KiB .. 16 MiB", nameof(ringBytes));
        _ringPlacement = ringPlacement;
        ControlPage = vidmm.Allocate(VideoMemoryManager.PageSize, VideoMemoryManager.PageSize, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        try { RingAllocation = vidmm.Allocate(ringBytes, VideoMemoryManager.PageSize, ringPlacement, AllocationFlags.Contiguous); }
        catch
        {
            vidmm.Free(ControlPage); // a refused context leaves nothing allocated
            throw;
        }
        SaveArea = vidmm.PhysicalAddressOf(ControlPage, 0);
        Descriptor = SaveArea.Add(DescriptorOffset);
        Ring = vidmm.PhysicalAddressOf(RingAllocation, 0);
        RingBytes = ringBytes;
        ContextId = contextId;
        vidmm.Memory.GetSpan(SaveArea, (int)VideoMemoryManager.PageSize).Clear();
        Desc = new RingDescriptor { Base = Ring.Encoded, SizeBytes = ringBytes, ContextId = contextId };
        vidmm.Memory.Local.Ref<ContextSaveArea>(SaveArea.Offset) = new ContextSaveArea
        {
            RingDescriptor = Descriptor.Encoded, ContextId = contextId, AddressSpace = space,
        };
    }

    /// <summary>Context id written into the save area and the ring descriptor.</summary>
    public uint ContextId { get; }

    /// <summary>The save area's physical address (what CONTEXT_SWITCH takes).</summary>
    public PhysicalAddress SaveArea { get; }

    /// <summary>The ring descriptor's physical address.</summary>
    public PhysicalAddress Descriptor { get; }

    /// <summary>The ring's first byte (changes only through <see cref="RelocateRing"/>).</summary>
    public PhysicalAddress Ring { get; private set; }

    /// <summary>Ring size in bytes.</summary>
    public uint RingBytes { get; }

    /// <summary>The pinned page holding save area and descriptor.</summary>
    public AllocationHandle ControlPage { get; }

    /// <summary>The pinned ring allocation (changes only through <see cref="RelocateRing"/>).</summary>
    public AllocationHandle RingAllocation { get; private set; }

    private ref RingDescriptor Desc => ref _vidmm.Memory.Local.Ref<RingDescriptor>(Descriptor.Offset);

    /// <summary>Producer position (free-running bytes).</summary>
    public ulong WritePtr => Volatile.Read(ref Desc.WritePtr);

    /// <summary>Device position (free-running bytes), written back as packets retire.</summary>
    public ulong ReadPtr => Volatile.Read(ref Desc.ReadPtr);

    /// <summary>True when the device has consumed everything written.</summary>
    public bool IsDrained => ReadPtr == WritePtr;

    /// <summary>True when <paramref name="dwords"/> of packets fit in the ring now (counting the end-of-ring NOP padding).</summary>
    public bool HasRoomFor(int dwords)
    {
        ulong bytes = (ulong)dwords * 4;
        ulong wp = Desc.WritePtr;
        ulong index = wp & (RingBytes - 1);
        ulong pad = index + bytes > RingBytes ? RingBytes - index : 0;
        return bytes <= RingBytes / 2 && wp + pad + bytes - ReadPtr <= RingBytes;
    }

    /// <summary>
    /// Appends <paramref name="packets"/> (whole packets, at most half the ring) and publishes WritePtr; returns false,
    /// writing nothing, when the ring lacks room (the device has not caught up).
    /// </summary>
    public bool TrySubmit(ReadOnlySpan<uint> packets)
    {
        ulong bytes = (ulong)packets.Length * 4;
        if (bytes == 0) return true;
        if (bytes > RingBytes / 2) throw new ArgumentException($"{bytes} bytes of packets exceed half the {RingBytes}-byte ring", nameof(packets));
        ulong wp = Desc.WritePtr;
        return KernelRingWriter.TryAppend(_vidmm.Memory, Ring, RingBytes, ref Desc, ref wp, packets);
    }

    /// <summary>Appends an INDIRECT to the DMA buffer at <paramref name="va"/> (bit 0 = privileged); false when the ring is full.</summary>
    public bool TrySubmitIndirect(ulong va, uint lengthDwords, bool privileged)
    {
        Span<uint> p = stackalloc uint[PacketFormat.IndirectDwords];
        new PacketWriter(p).Indirect(va, lengthDwords, privileged);
        return TrySubmit(p);
    }

    /// <summary>
    /// Moves the ring to a fresh pinned allocation and fixes up the ring descriptor's base (seed 001 §4.1: the kernel may
    /// change the ring location stored with a saved context when the ring has to move). The whole ring is copied, so
    /// the free-running ReadPtr/WritePtr keep naming the same packets and queued work runs from the new place. The
    /// caller guarantees the device cannot load the context meanwhile (not running, in no run list) and holds off
    /// producers; the old allocation is freed.
    /// </summary>
    public void RelocateRing()
    {
        var moved = _vidmm.Allocate(RingBytes, VideoMemoryManager.PageSize, _ringPlacement, AllocationFlags.Contiguous);
        var to = _vidmm.PhysicalAddressOf(moved, 0);
        _vidmm.Memory.GetSpan(Ring, (int)RingBytes).CopyTo(_vidmm.Memory.GetSpan(to, (int)RingBytes));
        var old = RingAllocation;
        Volatile.Write(ref Desc.Base, to.Encoded);
        Ring = to;
        RingAllocation = moved;
        _vidmm.Free(old);
    }
}
