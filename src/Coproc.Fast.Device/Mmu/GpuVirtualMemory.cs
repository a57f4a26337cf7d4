using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Device.Mmu;

/// <summary>
/// One client's view of one GPU virtual address space: the MMU, the client's TLB, the address space and
/// whether the access comes from a privileged DMA buffer. Reads, writes, copies and fills go through
/// <see cref="PageRun"/>s — one translation per physically contiguous run, then a native memory copy —
/// and never allocate. On failure they return the status and the faulting VA; bytes before the fault may
/// have been written (exactly as hardware would), bytes after it never are.
/// </summary>
internal readonly unsafe struct GpuVirtualMemory
{
    private readonly GpuMmu _mmu;
    private readonly DeviceMemory _memory;
    private readonly Tlb? _tlb;
    private readonly AddressSpaceDescriptor _space;
    private readonly bool _privileged;
    // Precomputed per view (i.e. per context load), so the hit path of small accesses to local memory reads no object but
    // the TLB: the access class of a write and local memory's base. System memory's pointer comes from DeviceMemory
    // (SystemWritePointer), which knows its ranges and whether the host observes writes. (Not a TlbPort: a view is
    // device state, which a save-state restores, and a port's pointer into the TLB's entries would not be rebased.)
    private readonly int _writeClass;
    private readonly byte* _localBase;

    /// <summary>Creates a view.</summary>
    public GpuVirtualMemory(GpuMmu mmu, DeviceMemory memory, Tlb? tlb, in AddressSpaceDescriptor space, bool privileged)
    {
        _mmu = mmu; _memory = memory; _tlb = tlb; _space = space; _privileged = privileged;
        _writeClass = Tlb.AccessClass(AccessKind.Write, privileged);
        _localBase = memory.Local.Base;
    }

    /// <summary>
    /// The fast path of a small write (WRITE_DATA, FENCE): a pointer to the <paramref name="bytes"/> at
    /// <paramref name="va"/> when they lie in one page that the TLB holds with write rights, else null — then the caller
    /// takes <see cref="Write"/>, which walks, counts and reports faults. Bounds were checked when the page was cached
    /// (memories never shrink), and the TLB never caches the dummy page, so the pointer is always real memory. Null also
    /// for system memory while the host observes guest-RAM writes (<see cref="DeviceMemory.WriteObserver"/>): the
    /// general path reports them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal byte* TryWritePointer(ulong va, uint bytes)
    {
        Tlb? tlb = _tlb;
        if (tlb is null || (va & (PageTableLayout.PageSize - 1)) + bytes > PageTableLayout.PageSize) return null;
        if (!tlb.TryHit(_space.Asid, va, _writeClass, out ulong data, out ulong offset)) return null;
        return (MemoryLocation)((data >> 2) & 3) == MemoryLocation.Local ? _localBase + offset : _memory.SystemWritePointer(offset, bytes);
    }

    /// <summary>
    /// <see cref="TryWritePointer"/>'s hit path read once, for a loop that holds no call and changes no TLB state
    /// (<see cref="TlbWriteHits"/>); never hits without a TLB.
    /// </summary>
    internal TlbWriteHits WriteHits() =>
        _tlb is null ? default : _tlb.WriteHits(_space.Asid, _writeClass, _localBase, _memory.SystemWriteBias);

    /// <summary>The address space.</summary>
    public AddressSpaceDescriptor Space => _space;

    /// <summary>True when accesses are privileged.</summary>
    public bool Privileged => _privileged;

    /// <summary>The same view with a different privilege.</summary>
    public GpuVirtualMemory WithPrivilege(bool privileged) => new(_mmu, _memory, _tlb, _space, privileged);

    /// <summary>Translates a run starting at <paramref name="va"/> (see <see cref="GpuMmu.TranslateRun"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TranslationStatus TranslateRun(ulong va, ulong maxLength, AccessKind access, out PageRun run) =>
        _mmu.TranslateRun(_tlb, _space, va, maxLength, access, _privileged, out run);

    /// <summary>Pointer to a non-dummy run's bytes (already bounds-checked by translation).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* PointerOf(in PageRun run) => _memory.TryPointer(run.Location, run.PhysicalOffset, run.Length);

    /// <summary>
    /// Reports a write to <paramref name="length"/> bytes at <paramref name="skip"/> into a run to the host's guest-RAM
    /// observer (native-layout.md §20.6); nothing for local memory, the dummy page or no observer. Every write through
    /// <see cref="PointerOf"/> is followed by this call.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void NoteWritten(in PageRun run, ulong skip, ulong length) => _memory.NoteWritten(run.Location, run.PhysicalOffset + skip, length);

    /// <summary>Reads bytes at a VA into <paramref name="destination"/>. Dummy pages read as zero.</summary>
    public TranslationStatus Read(ulong va, Span<byte> destination, out ulong faultVa)
    {
        ulong done = 0, total = (ulong)destination.Length;
        fixed (byte* dst = destination)
        {
            while (done < total)
            {
                var s = TranslateRun(va + done, total - done, AccessKind.Read, out var run);
                if (s != TranslationStatus.Ok) { faultVa = va + done; return s; }
                if (run.IsDummy) new Span<byte>(dst + done, (int)run.Length).Clear();
                else Buffer.MemoryCopy(PointerOf(run), dst + done, run.Length, run.Length);
                done += run.Length;
            }
        }
        faultVa = 0;
        return TranslationStatus.Ok;
    }

    /// <summary>Writes <paramref name="source"/> at a VA. Writes to dummy pages are discarded.</summary>
    public TranslationStatus Write(ulong va, ReadOnlySpan<byte> source, out ulong faultVa)
    {
        ulong done = 0, total = (ulong)source.Length;
        fixed (byte* src = source)
        {
            while (done < total)
            {
                var s = TranslateRun(va + done, total - done, AccessKind.Write, out var run);
                if (s != TranslationStatus.Ok) { faultVa = va + done; return s; }
                if (!run.IsDummy)
                {
                    Buffer.MemoryCopy(src + done, PointerOf(run), run.Length, run.Length);
                    NoteWritten(run, 0, run.Length);
                }
                done += run.Length;
            }
        }
        faultVa = 0;
        return TranslationStatus.Ok;
    }

    /// <summary>Reads a little-endian 32-bit value.</summary>
    public TranslationStatus Read32(ulong va, out uint value, out ulong faultVa)
    {
        uint v = 0;
        var s = Read(va, new Span<byte>(&v, 4), out faultVa);
        value = v;
        return s;
    }

    /// <summary>Reads a little-endian 64-bit value.</summary>
    public TranslationStatus Read64(ulong va, out ulong value, out ulong faultVa)
    {
        ulong v = 0;
        var s = Read(va, new Span<byte>(&v, 8), out faultVa);
        value = v;
        return s;
    }

    /// <summary>Writes a little-endian 32-bit value.</summary>
    public TranslationStatus Write32(ulong va, uint value, out ulong faultVa) => Write(va, new ReadOnlySpan<byte>(&value, 4), out faultVa);

    /// <summary>Writes a little-endian 64-bit value.</summary>
    public TranslationStatus Write64(ulong va, ulong value, out ulong faultVa) => Write(va, new ReadOnlySpan<byte>(&value, 8), out faultVa);

    /// <summary>
    /// Copies <paramref name="bytes"/> from <paramref name="srcVa"/> to <paramref name="dstVa"/> (which must not
    /// overlap), one pair of page runs at a time. <paramref name="done"/> counts bytes completed, so a caller
    /// can resume an interrupted copy at <c>srcVa + done</c>.
    /// </summary>
    public TranslationStatus Copy(ulong dstVa, ulong srcVa, ulong bytes, out ulong done, out ulong faultVa)
    {
        // Design: each side keeps its run until the run is used up, so each side is translated once per run of its own.
        // (Translating the source afresh for every destination run re-walked the rest of a long source run each time —
        // quadratic when one side is contiguous and the other is not.) A failing page is still reported when the copy
        // reaches it, source first, with every byte before it copied.
        done = 0;
        PageRun src = default, dst = default;
        ulong srcUsed = 0, dstUsed = 0;
        while (done < bytes)
        {
            if (srcUsed == src.Length)
            {
                var s = TranslateRun(srcVa + done, bytes - done, AccessKind.Read, out src);
                if (s != TranslationStatus.Ok) { faultVa = srcVa + done; return s; }
                srcUsed = 0;
            }
            if (dstUsed == dst.Length)
            {
                var s = TranslateRun(dstVa + done, bytes - done, AccessKind.Write, out dst);
                if (s != TranslationStatus.Ok) { faultVa = dstVa + done; return s; }
                dstUsed = 0;
            }
            ulong n = Math.Min(src.Length - srcUsed, dst.Length - dstUsed);
            if (!dst.IsDummy)
            {
                byte* d = PointerOf(dst) + dstUsed;
                if (src.IsDummy) NativeMemory.Clear(d, (nuint)n);
                else Buffer.MemoryCopy(PointerOf(src) + srcUsed, d, n, n);
                NoteWritten(dst, dstUsed, n);
            }
            srcUsed += n;
            dstUsed += n;
            done += n;
        }
        faultVa = 0;
        return TranslationStatus.Ok;
    }

    /// <summary>
    /// Fills <paramref name="bytes"/> at <paramref name="dstVa"/> with a repeating 32-bit pattern (the pattern's
    /// phase follows the VA, so a resumed fill is identical). <paramref name="dstVa"/> and bytes need not be aligned.
    /// </summary>
    public TranslationStatus Fill(ulong dstVa, uint pattern, ulong bytes, out ulong done, out ulong faultVa)
    {
        done = 0;
        while (done < bytes)
        {
            var s = TranslateRun(dstVa + done, bytes - done, AccessKind.Write, out var dst);
            if (s != TranslationStatus.Ok) { faultVa = dstVa + done; return s; }
            if (!dst.IsDummy)
            {
                FillRun(PointerOf(dst), dst.Length, pattern, (int)((dstVa + done) & 3));
                NoteWritten(dst, 0, dst.Length);
            }
            done += dst.Length;
        }
        faultVa = 0;
        return TranslationStatus.Ok;
    }

    private static void FillRun(byte* p, ulong length, uint pattern, int phase)
    {
        // Rotate so the byte at p is pattern byte 'phase', then fill in int-sized chunks.
        uint rotated = phase == 0 ? pattern : (pattern >> (phase * 8)) | (pattern << (32 - phase * 8));
        if (((nuint)p & 3) == 0 && (length & 3) == 0 && length <= int.MaxValue * 4UL)
        {
            new Span<uint>(p, (int)(length >> 2)).Fill(rotated);
            return;
        }
        if ((byte)rotated == (byte)(rotated >> 8) && (ushort)rotated == (ushort)(rotated >> 16))
        {
            new Span<byte>(p, checked((int)length)).Fill((byte)rotated);
            return;
        }
        for (ulong i = 0; i < length; i++) p[i] = (byte)(rotated >> (int)((i & 3) * 8));
    }
}
