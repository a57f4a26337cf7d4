using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Coproc.Fast.Device.Memory;

/// <summary>
/// A pinned, aligned block of unmanaged memory: either allocated here already zero with
/// <see cref="NativeMemory.AllocZeroed(nuint)"/> or supplied by a host emulator (its guest RAM). All access is through spans and refs over the block; every entry point checks bounds.
/// </summary>
/// <remarks>Called by: host, to supply guest RAM; see docs/embedding.md, "What is public, and who calls it".</remarks>
public sealed unsafe class NativeRegion : IDisposable
{
    /// <summary>Host: alignment of regions this type allocates (one 2 MiB large page).</summary>
    public const nuint DefaultAlignment = 2 * 1024 * 1024;

    private byte* _base;
    private void* _allocation; // what NativeMemory.AllocZeroed returned (owned regions only); _base is it aligned up
    private readonly bool _owned;

    private NativeRegion(byte* @base, void* allocation, ulong length, bool owned)
    {
        _base = @base;
        _allocation = allocation;
        Length = length;
        _owned = owned;
    }

    /// <summary>Host: size of the region in bytes.</summary>
    public ulong Length { get; private set; }

    /// <summary>Host: true when the region was allocated by this object (and is freed by <see cref="Dispose"/>).</summary>
    public bool IsOwned => _owned;

    /// <summary>Host: base pointer. Valid until <see cref="Dispose"/>; use only inside small tested primitives.</summary>
    public byte* Base
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _base;
    }

    /// <summary>
    /// Host: allocates a region that reads as zero, aligned to <paramref name="alignment"/>. The memory comes from the C
    /// runtime's zeroing allocator (calloc), not from an allocation followed by a clear: a block this large is mapped
    /// fresh from the operating system (glibc, musl and the Windows heap all do so), whose pages are zero already and
    /// are touched, and so backed by physical memory, only when first used. Alignment is obtained by over-allocating
    /// <paramref name="alignment"/> bytes and rounding the base up; the unused head and tail are never touched.
    /// </summary>
    /// <param name="length">Bytes; must be a non-zero multiple of 4 KiB.</param>
    /// <param name="alignment">Power-of-two alignment, at least 4 KiB.</param>
    public static NativeRegion Allocate(ulong length, nuint alignment = DefaultAlignment)
    {
        if (length == 0 || (length & 0xFFF) != 0)
            throw new ArgumentOutOfRangeException(nameof(length), length, "region length must be a non-zero multiple of 4 KiB");
        if (alignment < 4096 || (alignment & (alignment - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(alignment), alignment, "alignment must be a power of two >= 4096");
        void* allocation = NativeMemory.AllocZeroed((nuint)length + alignment);
        var p = (byte*)(((nuint)allocation + alignment - 1) & ~(alignment - 1));
        return new NativeRegion(p, allocation, length, owned: true);
    }

    /// <summary>
    /// Host: wraps host-owned memory (e.g. a host emulator's guest RAM). The caller keeps it alive and pinned
    /// for the lifetime of this object; <see cref="Dispose"/> does not free it.
    /// </summary>
    /// <param name="pointer">Start of the memory; must be 4 KiB aligned.</param>
    /// <param name="length">Bytes; a non-zero multiple of 4 KiB.</param>
    [SuppressMessage("Naming", "CA1720:Identifiers should not contain type names", Justification = "Public parameter name (callers may pass it by name); the argument is a raw host pointer and the name says so.")]
    public static NativeRegion Wrap(byte* pointer, ulong length)
    {
        if (pointer == null) throw new ArgumentNullException(nameof(pointer));
        if (((nuint)pointer & 0xFFF) != 0) throw new ArgumentException("host memory must be 4 KiB aligned", nameof(pointer));
        if (length == 0 || (length & 0xFFF) != 0)
            throw new ArgumentOutOfRangeException(nameof(length), length, "region length must be a non-zero multiple of 4 KiB");
        return new NativeRegion(pointer, null, length, owned: false);
    }

    /// <summary>Host: true when [offset, offset+length) lies inside the region.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Contains(ulong offset, ulong length) => offset <= Length && length <= Length - offset;

    /// <summary>Host: a span over [offset, offset+length). Throws <see cref="ArgumentOutOfRangeException"/> when out of bounds.</summary>
    public Span<byte> Slice(ulong offset, int length)
    {
        if (length < 0 || !Contains(offset, (ulong)length)) ThrowOutOfRange(offset, length);
        return new Span<byte>(_base + offset, length);
    }

    /// <summary>Host: a ref to an unmanaged value at a byte offset (bounds-checked).</summary>
    public ref T Ref<T>(ulong offset) where T : unmanaged
    {
        if (!Contains(offset, (ulong)sizeof(T))) ThrowOutOfRange(offset, sizeof(T));
        return ref Unsafe.AsRef<T>(_base + offset);
    }

    /// <summary>Host: frees an owned region. Idempotent.</summary>
    public void Dispose()
    {
        if (_owned && _allocation != null) NativeMemory.Free(_allocation);
        _allocation = null;
        _base = null;
        Length = 0; // a disposed region contains nothing: checked accessors throw instead of reading freed memory
    }

    private void ThrowOutOfRange(ulong offset, long length) =>
        throw new ArgumentOutOfRangeException(nameof(offset), $"[0x{offset:X}, +0x{length:X}) is outside a region of 0x{Length:X} bytes");
}
