using System.Runtime.CompilerServices;

namespace Coproc.Fast.Driver.Kernel;

/// <summary>
/// The one door from ring 3 into ring 0 (docs/concepts.md "The pipeline"). Every entry copies the caller's
/// arguments into a kernel-owned buffer (seed 001 §3.7), charges the transition per <see cref="Ring0GatePolicy"/>
/// and counts the entry against the calling process, so the ring-3 path can show one entry for registration and none
/// per submission (seed 003 claim). Thread-safe; no allocation and no interlocked operation per entry in steady state
/// (docs/performance.md goal 2): the counts live in single-writer per-thread slots (<see cref="Ring0GateCounters"/>) and
/// the argument buffer is the entering thread's own.
/// </summary>
public sealed class Ring0Gate
{
    // The entering thread's argument buffer: a ring-0 call is a ref struct, so it is entered and left on one thread;
    // a nested entry (a call made while another is held) takes a fresh buffer from the shared overflow stack.
    [ThreadStatic] private static KernelArgumentBuffer? t_buffer;
    private readonly Stack<KernelArgumentBuffer> _overflow = new();
    private readonly Ring0GateCounters _counters = new();
    private readonly Action<ulong>? _charge;
    private long _chargedCycles;

    /// <summary>Creates a gate.</summary>
    /// <exception cref="PlatformNotSupportedException">Real policy where no cheap system call is available.</exception>
    public Ring0Gate(Ring0GateOptions? options = null)
    {
        Options = options ?? new Ring0GateOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.ArgumentBufferBytes, 16);
        if (Options.Policy == Ring0GatePolicy.Real && !Ring0GateSyscall.IsSupported)
            throw new PlatformNotSupportedException("the Real ring-0 gate needs libc's getppid");
        _charge = Options.ChargeVirtualCycles;
    }

    /// <summary>The gate's configuration.</summary>
    public Ring0GateOptions Options { get; }

    /// <summary>Entries from every process.</summary>
    public long TotalEntries => _counters.TotalEntries();

    /// <summary>Virtual cycles charged under <see cref="Ring0GatePolicy.Modeled"/>: the gate's own virtual clock.</summary>
    public long ChargedCycles => Interlocked.Read(ref _chargedCycles);

    /// <summary>Argument bytes copied into kernel memory.</summary>
    public long CopiedBytes => _counters.TotalCopiedBytes();

    /// <summary>Entries made by process <paramref name="processId"/> (0 if it never entered).</summary>
    public long EntriesOf(uint processId) => _counters.EntriesOf(processId);

    /// <summary>
    /// Enters ring 0 on behalf of <paramref name="processId"/>: charges the transition, counts it and copies
    /// <paramref name="arguments"/> into a kernel-owned buffer. Dispose the returned call to leave.
    /// </summary>
    public Ring0GateCall Enter(uint processId, ReadOnlySpan<byte> arguments)
    {
        Transition(processId, arguments.Length);
        var buffer = t_buffer;
        if (buffer is not null) t_buffer = null;
        else buffer = RentOverflow();
        buffer.EnsureCapacity(arguments.Length);
        arguments.CopyTo(buffer.Data);
        return new Ring0GateCall(this, buffer, arguments.Length, processId);
    }

    /// <summary>
    /// Enters ring 0 on behalf of <paramref name="processId"/> for a call whose <paramref name="argumentBytes"/> of
    /// arguments the kernel code copies in itself, once, straight into memory the application never maps (the KMD's
    /// DMA buffer), and validates there (seed 001 §3.7) — so no gate buffer and no second copy (docs/performance.md goal 2).
    /// Charges and counts (entry and bytes) exactly like <see cref="Enter"/>.
    /// </summary>
    internal void EnterForDirectCopy(uint processId, int argumentBytes) => Transition(processId, argumentBytes);

    /// <summary>The transition itself: the policy's cost, then the counts (single-writer slot, plain stores).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Transition(uint processId, int argumentBytes)
    {
        switch (Options.Policy)
        {
            case Ring0GatePolicy.Real:
                Ring0GateSyscall.Transition(); // exactly one real system call per entry
                break;
            case Ring0GatePolicy.Modeled:
                Interlocked.Add(ref _chargedCycles, (long)Options.ModeledCycles);
                _charge?.Invoke(Options.ModeledCycles);
                break;
        }
        Diagnostics.CoprocMetrics.Ring0Entries.Add(1);
        _counters.Count(processId, argumentBytes);
    }

    private KernelArgumentBuffer RentOverflow()
    {
        lock (_overflow)
            if (_overflow.TryPop(out var b)) return b;
        return new KernelArgumentBuffer(Options.ArgumentBufferBytes);
    }

    internal void Return(KernelArgumentBuffer buffer, int lease)
    {
        if (buffer.Lease != lease) return; // a copy of an already disposed call: this loan ended already
        buffer.Lease = lease + 1;
        if (t_buffer is null) t_buffer = buffer; // the thread's own again (steady state)
        else lock (_overflow) _overflow.Push(buffer); // a nested entry's buffer: bounded by the nesting depth
    }
}
