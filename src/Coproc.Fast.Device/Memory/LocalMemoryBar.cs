using System.Runtime.CompilerServices;

namespace Coproc.Fast.Device.Memory;

/// <summary>
/// The local-memory BAR (native-layout.md §1.1, "Power-on path"): a CPU-visible window as large as local memory in which
/// window offset <c>o</c> is local physical address <c>o</c>, identity-mapped from reset — the way a real GPU's VRAM BAR
/// (with a resizable BAR, the whole of video memory) lets the driver write its first page tables, save areas and the
/// aperture table before anything else is set up. It needs no table and no register, so a guest driver can reach local
/// memory from power-on with nothing but bus accesses. Accesses of any width; bytes past the end read as all ones and
/// writes to them are dropped and counted (<see cref="FailedAccesses"/>), as on a PCI bus — never a host exception.
/// </summary>
/// <remarks>
/// Threading: like a real BAR, an access is a plain memory access; it is not ordered against a <c>Step</c> running on
/// another thread beyond what the host's own synchronisation provides (native-layout.md §20.4).
/// <para>Called by: host, forwarding the guest's accesses to this window; see docs/embedding.md, "What is public, and who calls it".</para>
/// </remarks>
public sealed unsafe class LocalMemoryBar
{
    private readonly DeviceMemory _memory;
    private long _failed;

    internal LocalMemoryBar(DeviceMemory memory) => _memory = memory;

    /// <summary>Host: window size in bytes: LOCAL_SIZE.</summary>
    public ulong Size => _memory.Local.Length;

    /// <summary>Host: accesses (or parts of accesses) that fell past the window's end.</summary>
    public long FailedAccesses => Interlocked.Read(ref _failed);

    /// <summary>Host: reads <paramref name="destination"/>.Length bytes at <paramref name="offset"/>; bytes past the end read as 0xFF.</summary>
    /// <returns>True when every byte was inside the window.</returns>
    public bool Read(ulong offset, Span<byte> destination)
    {
        int inside = Inside(offset, destination.Length);
        if (inside > 0) new ReadOnlySpan<byte>(_memory.TryPointer(MemoryLocation.Local, offset, (ulong)inside), inside).CopyTo(destination);
        if (inside == destination.Length) return true;
        destination[inside..].Fill(0xFF);
        Interlocked.Increment(ref _failed);
        return false;
    }

    /// <summary>Host: writes <paramref name="source"/> at <paramref name="offset"/>; bytes past the end are dropped.</summary>
    /// <returns>True when every byte was inside the window.</returns>
    public bool Write(ulong offset, ReadOnlySpan<byte> source)
    {
        int inside = Inside(offset, source.Length);
        if (inside > 0) source[..inside].CopyTo(new Span<byte>(_memory.TryPointer(MemoryLocation.Local, offset, (ulong)inside), inside));
        if (inside == source.Length) return true;
        Interlocked.Increment(ref _failed);
        return false;
    }

    /// <summary>Host: a 32-bit little-endian load (all ones outside the window).</summary>
    public uint Read32(ulong offset)
    {
        uint v;
        Read(offset, new Span<byte>(&v, 4));
        return v;
    }

    /// <summary>Host: a 64-bit little-endian load (all ones outside the window).</summary>
    public ulong Read64(ulong offset)
    {
        ulong v;
        Read(offset, new Span<byte>(&v, 8));
        return v;
    }

    /// <summary>Host: a 32-bit little-endian store (dropped outside the window).</summary>
    public void Write32(ulong offset, uint value) => Write(offset, new ReadOnlySpan<byte>(&value, 4));

    /// <summary>Host: a 64-bit little-endian store (dropped outside the window).</summary>
    public void Write64(ulong offset, ulong value) => Write(offset, new ReadOnlySpan<byte>(&value, 8));

    /// <summary>Host: stores a structure (a save area, a descriptor, a PTE) as its bytes.</summary>
    public void WriteStruct<T>(ulong offset, in T value) where T : unmanaged
    {
        T copy = value;
        Write(offset, new ReadOnlySpan<byte>(&copy, sizeof(T)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Inside(ulong offset, int length)
    {
        ulong size = Size;
        if (offset >= size) return 0;
        return (int)Math.Min((ulong)length, size - offset);
    }
}
