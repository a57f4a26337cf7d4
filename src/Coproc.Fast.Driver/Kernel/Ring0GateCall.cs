using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Coproc.Fast.Driver.Kernel;

/// <summary>
/// One entry into ring 0: the kernel-owned copy of the caller's arguments (seed 001 §3.7 — the caller may change its
/// buffer afterwards without effect). Dispose hands the copy's buffer back to the entering thread; a <c>ref struct</c>, so
/// the copy cannot outlive the call.
/// </summary>
public ref struct Ring0GateCall
{
    private readonly Ring0Gate? _gate;
    private KernelArgumentBuffer? _buffer;
    private readonly int _length;
    private readonly int _lease;

    internal Ring0GateCall(Ring0Gate gate, KernelArgumentBuffer buffer, int length, uint processId)
    {
        _gate = gate;
        _buffer = buffer;
        _length = length;
        _lease = buffer.Lease;
        ProcessId = processId;
    }

    /// <summary>The calling process.</summary>
    public uint ProcessId { get; }

    /// <summary>The kernel's copy of the arguments.</summary>
    public readonly ReadOnlySpan<byte> Arguments =>
        _buffer is null ? ThrowDisposed() : new ReadOnlySpan<byte>(_buffer.Data, 0, _length);

    /// <summary>Reads the arguments as one unmanaged structure (from the kernel copy).</summary>
    /// <exception cref="ArgumentException">The arguments are shorter than <typeparamref name="T"/>.</exception>
    public readonly T Read<T>() where T : unmanaged
    {
        var args = Arguments;
        if (args.Length < Unsafe.SizeOf<T>())
            throw new ArgumentException($"ring-0 call carried {args.Length} bytes, {typeof(T).Name} needs {Unsafe.SizeOf<T>()}");
        return MemoryMarshal.Read<T>(args);
    }

    /// <summary>Leaves ring 0: the argument buffer goes back to the entering thread (or the gate's nesting stack).</summary>
    public void Dispose()
    {
        if (_buffer is null) return;
        _gate!.Return(_buffer, _lease);
        _buffer = null;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ReadOnlySpan<byte> ThrowDisposed() => throw new ObjectDisposedException(nameof(Ring0GateCall));
}

/// <summary>A pooled, kernel-owned argument buffer (pinned so it can be handed to the device as-is later).</summary>
internal sealed class KernelArgumentBuffer(int size)
{
    public byte[] Data = GC.AllocateUninitializedArray<byte>(size, pinned: true);

    // Which loan of the buffer a call holds; bumped when the loan ends. A ref struct can still be copied, and disposing
    // a second copy (even after the buffer was lent again) must not hand the buffer back twice — it would then serve
    // two calls at once and a nested entry would overwrite the outer call's kernel copy. Only the entering thread
    // touches it while lent; the overflow stack's lock orders it for the next borrower.
    public int Lease;

    public void EnsureCapacity(int length)
    {
        if (Data.Length < length) Data = GC.AllocateUninitializedArray<byte>(Math.Max(length, Data.Length * 2), pinned: true);
    }
}
