using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Rings;

namespace Coproc.Fast.Driver.Kernel;

/// <summary>
/// The kernel's producer side of a ring (native-layout.md §10.2), shared by every kernel-owned ring: VidSch's
/// per-context rings and paging rings, VidMm's paging-queue context, the advanced model's contexts. Packets never
/// straddle the ring's end — one NOP fills the gap — and WritePtr is published (release) only after the bytes are in.
/// </summary>
internal static class KernelRingWriter
{
    /// <summary>
    /// Appends whole <paramref name="packets"/> at free-running position <paramref name="writePtr"/> of the ring at
    /// <paramref name="ring"/> (<paramref name="ringBytes"/>, a power of two) and publishes the new WritePtr in
    /// <paramref name="descriptor"/>. Returns false, writing nothing, when the device has not freed enough room
    /// (ReadPtr is read from the descriptor); on success <paramref name="writePtr"/> is the new position.
    /// </summary>
    public static bool TryAppend(DeviceMemory memory, PhysicalAddress ring, uint ringBytes, ref RingDescriptor descriptor,
        ref ulong writePtr, ReadOnlySpan<uint> packets)
    {
        ulong bytes = (ulong)packets.Length * 4;
        if (bytes == 0) return true;
        ulong wp = writePtr;
        ulong index = wp & (ringBytes - 1);
        ulong pad = index + bytes > ringBytes ? ringBytes - index : 0;
        if (wp + pad + bytes - Volatile.Read(ref descriptor.ReadPtr) > ringBytes) return false;
        if (pad != 0)
        {
            var gap = MemoryMarshal.Cast<byte, uint>(memory.GetSpan(ring.Add(index), (int)pad));
            new PacketWriter(gap).Nop(gap.Length);
            wp += pad;
            index = 0;
        }
        MemoryMarshal.AsBytes(packets).CopyTo(memory.GetSpan(ring.Add(index), (int)bytes));
        writePtr = wp + bytes;
        Volatile.Write(ref descriptor.WritePtr, writePtr);
        return true;
    }
}
