using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Coproc.Fast.Device.Doorbells;

/// <summary>
/// The doorbell aperture: a BAR of its own, 256 pages of 4 KiB (1 MiB), page <c>n</c> being doorbell <c>n</c>
/// (seed 003: "a pre-allocated set of 256 pages"; native-layout.md §13.1). The kernel maps one page into one
/// process; that process rings by writing any 32-bit value anywhere in its page (by convention the low 32 bits
/// of the queue's new WritePtr at offset 0 — the device ignores the value and reads WritePtr from the queue
/// descriptor). Pages read as zero. Writes outside the aperture are dropped and counted.
/// </summary>
/// <remarks>Called by: host, forwarding the guest's accesses to this window; see docs/embedding.md, "What is public, and who calls it".</remarks>
public sealed class DoorbellAperture
{
    /// <summary>Host: size of one doorbell page.</summary>
    public const int PageSize = 4096;

    /// <summary>Host: log2 of <see cref="PageSize"/>.</summary>
    public const int PageShift = 12;

    /// <summary>Host: size of the aperture BAR in bytes.</summary>
    public const ulong SizeInBytes = (ulong)DoorbellVector.Count * PageSize;

    private readonly DoorbellBlock _block;
    private long _outOfRange;

    internal DoorbellAperture(DoorbellBlock block) => _block = block;

    /// <summary>Host: writes outside the 1 MiB aperture or misaligned (dropped).</summary>
    public long DroppedWrites => Interlocked.Read(ref _outOfRange);

    /// <summary>
    /// Host: the writer id of a plain bus store, which carries no process identity (native-layout.md §13.1 "Writer identity"):
    /// it matches any owner. Protection then comes from where the doorbell page is mapped — the kernel maps a page only
    /// into its owner's address space (seed 003), so on a real bus only the owner can store to it.
    /// </summary>
    public const uint BusWriter = uint.MaxValue;

    /// <summary>
    /// Host: a 32-bit bus store at <paramref name="offset"/> (what a host emulator forwards from its bus): rings the doorbell whose
    /// page contains it if that doorbell is Registered, whoever owns it (<see cref="BusWriter"/>). Use the overload with a
    /// process id when the host knows which guest process stored (the owner check then applies).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write32(ulong offset, uint value) => Write32(offset, value, BusWriter);

    /// <summary>Host: byte offset of doorbell <paramref name="doorbell"/>'s page in the aperture.</summary>
    public static ulong PageOffset(int doorbell) => (ulong)doorbell << PageShift;

    /// <summary>
    /// Host: a 32-bit write by process <paramref name="writerProcessId"/> at <paramref name="offset"/> in the aperture: rings the
    /// doorbell whose page contains it (if registered and owned by the writer, or the writer is <see cref="BusWriter"/>).
    /// Lock-free, allocation-free.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write32(ulong offset, uint value, uint writerProcessId)
    {
        _ = value; // the device reads WritePtr from the descriptor; the value only documents intent
        if (offset >= SizeInBytes || (offset & 3) != 0)
        {
            Interlocked.Increment(ref _outOfRange);
            return;
        }
        _block.OnPageWrite((int)(offset >> PageShift), writerProcessId);
    }

    /// <summary>
    /// Host: the doorbell wait of a host's device thread (what an ioeventfd gives a device thread in a KVM host): returns
    /// true as soon as a doorbell is pending or <see cref="WakeDoorbellWaiter"/> was called since the last wait —
    /// checking up to <paramref name="spinIterations"/> times in a spin, then parking for at most
    /// <paramref name="parkMilliseconds"/> (-1: until woken); false when it returns without one (timeout, or a spurious
    /// wake-up: check WORK_PENDING and wait again). A doorbell store wakes a parked waiter and costs nothing extra when
    /// none is parked. One waiting thread at a time (the device thread): a second waiter may miss wake-ups.
    /// </summary>
    public bool WaitForDoorbell(int spinIterations, int parkMilliseconds) => _block.Interrupt.Wait(spinIterations, parkMilliseconds);

    /// <summary>Host: wakes the thread in <see cref="WaitForDoorbell"/> without a doorbell (e.g. to make it re-check a stop request).</summary>
    public void WakeDoorbellWaiter() => _block.Interrupt.Kick();

    /// <summary>Host: doorbell pages are write-only: every read returns 0.</summary>
    [SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "Public instance API: the aperture's MMIO read, the pair of Write32; static would break callers.")]
    public uint Read32(ulong offset)
    {
        _ = offset;
        return 0;
    }

    /// <summary>Host: device reset (native-layout.md §20.3): back to the power-on state.</summary>
    internal void Reset() => Interlocked.Exchange(ref _outOfRange, 0);
}
