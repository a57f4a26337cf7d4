using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.ObjectPool;

namespace Coproc.Fast.Driver.Kernel;

/// <summary>
/// The one door from ring 3 into ring 0 (ARCHITECTURE.md "Ring0Gate"; issue 4 §1). Every entry copies the caller's
/// arguments into a pooled kernel-owned buffer (seed 001 §3.7), charges the transition per <see cref="Ring0GatePolicy"/>
/// and counts the entry against the calling process, so the ring-3 path can show one entry for registration and none
/// per submission (seed 003 claim). Thread-safe; no allocation per entry in steady state.
/// </summary>
public sealed class Ring0Gate
{
    private readonly ObjectPool<KernelArgumentBuffer> _buffers;
    private readonly ConcurrentDictionary<uint, StrongBox<long>> _entriesByProcess = new();
    private readonly Action<ulong>? _charge;
    private long _totalEntries;
    private long _chargedCycles;
    private long _copiedBytes;

    /// <summary>Creates a gate.</summary>
    /// <exception cref="PlatformNotSupportedException">Real policy where no cheap system call is available.</exception>
    public Ring0Gate(Ring0GateOptions? options = null)
    {
        Options = options ?? new Ring0GateOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.ArgumentBufferBytes, 16);
        if (Options.Policy == Ring0GatePolicy.Real && !Ring0GateSyscall.IsSupported)
            throw new PlatformNotSupportedException("the Real ring-0 gate needs libc's getppid");
        _charge = Options.ChargeVirtualCycles;
        int size = Options.ArgumentBufferBytes;
        _buffers = new DefaultObjectPool<KernelArgumentBuffer>(new BufferPolicy(size), Environment.ProcessorCount * 4);
    }

    /// <summary>The gate's configuration.</summary>
    public Ring0GateOptions Options { get; }

    /// <summary>Entries from every process.</summary>
    public long TotalEntries => Interlocked.Read(ref _totalEntries);

    /// <summary>Virtual cycles charged under <see cref="Ring0GatePolicy.Modeled"/>: the gate's own virtual clock.</summary>
    public long ChargedCycles => Interlocked.Read(ref _chargedCycles);

    /// <summary>Argument bytes copied into kernel memory.</summary>
    public long CopiedBytes => Interlocked.Read(ref _copiedBytes);

    /// <summary>Entries made by process <paramref name="processId"/> (0 if it never entered).</summary>
    public long EntriesOf(uint processId) =>
        _entriesByProcess.TryGetValue(processId, out var box) ? Interlocked.Read(ref box.Value) : 0;

    /// <summary>
    /// Enters ring 0 on behalf of <paramref name="processId"/>: charges the transition, counts it and copies
    /// <paramref name="arguments"/> into a kernel-owned buffer. Dispose the returned call to leave.
    /// </summary>
    public Ring0GateCall Enter(uint processId, ReadOnlySpan<byte> arguments)
    {
        switch (Options.Policy)
        {
            case Ring0GatePolicy.Real:
                Ring0GateSyscall.Transition();
                break;
            case Ring0GatePolicy.Modeled:
                Interlocked.Add(ref _chargedCycles, (long)Options.ModeledCycles);
                _charge?.Invoke(Options.ModeledCycles);
                break;
        }
        Interlocked.Increment(ref _totalEntries);
        Diagnostics.CoprocMetrics.Ring0Entries.Add(1);
        Interlocked.Increment(ref _entriesByProcess.GetOrAdd(processId, static _ => new StrongBox<long>()).Value);

        var buffer = _buffers.Get();
        buffer.EnsureCapacity(arguments.Length);
        arguments.CopyTo(buffer.Data);
        Interlocked.Add(ref _copiedBytes, arguments.Length);
        return new Ring0GateCall(this, buffer, arguments.Length, processId);
    }

    internal void Return(KernelArgumentBuffer buffer) => _buffers.Return(buffer);

    private sealed class BufferPolicy(int size) : PooledObjectPolicy<KernelArgumentBuffer>
    {
        public override KernelArgumentBuffer Create() => new(size);

        public override bool Return(KernelArgumentBuffer obj) => true;
    }
}
