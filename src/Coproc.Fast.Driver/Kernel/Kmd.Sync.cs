using System.Runtime.InteropServices;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.Sync;

namespace Coproc.Fast.Driver.Kernel;

// The synchronization-object thunks (seed 001 §10.2) as a process calls them: one ring-0 entry each through the gate
// (arguments copied into kernel memory first, §3.7), then the scheduler acts on the kernel's copy only.
public sealed partial class Kmd
{
    /// <summary>CreateSynchronizationObject: see <see cref="VidSchScheduler.CreateSynchronizationObject"/>. One ring-0 entry.</summary>
    /// <exception cref="SyncObjectException">Bad kind or counts; nothing created.</exception>
    public uint CreateSynchronizationObject(uint processId, SyncObjectKind kind, int initialCount = 0, int maxCount = 1)
    {
        Span<int> a = [(int)kind, initialCount, maxCount];
        using var call = _gate.Enter(processId, MemoryMarshal.AsBytes(a));
        var k = MemoryMarshal.Cast<byte, int>(call.Arguments);
        return _scheduler.CreateSynchronizationObject(processId, (SyncObjectKind)k[0], k[1], k[2]);
    }

    /// <summary>Grants <paramref name="otherProcessId"/> use of an object (a shared object). One ring-0 entry.</summary>
    /// <exception cref="SyncObjectException">Unknown handle or wrong process.</exception>
    public void ShareSynchronizationObject(uint processId, uint handle, uint otherProcessId)
    {
        Span<uint> a = [handle, otherProcessId];
        using var call = _gate.Enter(processId, MemoryMarshal.AsBytes(a));
        var k = MemoryMarshal.Cast<byte, uint>(call.Arguments);
        _scheduler.ShareSynchronizationObject(processId, k[0], k[1]);
    }

    /// <summary>DeleteSynchronizationObject. One ring-0 entry.</summary>
    /// <exception cref="SyncObjectException">Unknown handle, wrong process, or in use.</exception>
    public void DeleteSynchronizationObject(uint processId, uint handle)
    {
        Span<uint> a = [handle];
        using var call = _gate.Enter(processId, MemoryMarshal.AsBytes(a));
        _scheduler.DeleteSynchronizationObject(processId, MemoryMarshal.Cast<byte, uint>(call.Arguments)[0]);
    }

    /// <summary>WaitOnSingleObject on <paramref name="context"/>'s stream. One ring-0 entry.</summary>
    /// <exception cref="SyncObjectException">Unknown handle, wrong process or context.</exception>
    public void WaitOnSingleObject(uint processId, VidSchContext context, uint handle) =>
        WaitOnMultipleObjects(processId, context, [handle], waitAll: true);

    /// <summary>
    /// WaitOnMultipleObjects on <paramref name="context"/>'s stream, wait-all (<paramref name="waitAll"/>) or
    /// wait-any: see <see cref="VidSchScheduler.WaitOnMultipleObjects"/>. One ring-0 entry.
    /// </summary>
    /// <exception cref="SyncObjectException">Unknown, duplicate, too many or no handles; wrong process or context.</exception>
    public void WaitOnMultipleObjects(uint processId, VidSchContext context, ReadOnlySpan<uint> handles, bool waitAll)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (handles.Length > VidSchScheduler.MaxWaitObjects)
            throw new SyncObjectException(SyncObjectError.InvalidArgument, 0, $"{handles.Length} objects: a wait names 1 … {VidSchScheduler.MaxWaitObjects}");
        Span<uint> a = stackalloc uint[3 + handles.Length];
        a[0] = (uint)context.Id;
        a[1] = waitAll ? 1u : 0u;
        a[2] = (uint)handles.Length;
        handles.CopyTo(a[3..]);
        using var call = _gate.Enter(processId, MemoryMarshal.AsBytes(a));
        var k = MemoryMarshal.Cast<byte, uint>(call.Arguments);
        var ctx = ContextOf(processId, (int)k[0]);
        ctx.Scheduler.WaitOnMultipleObjects(processId, ctx, k.Slice(3, (int)k[2]), k[1] != 0);
    }

    /// <summary>SignalObject / ReleaseObject on <paramref name="context"/>'s stream. One ring-0 entry.</summary>
    /// <exception cref="SyncObjectException">Unknown handle, wrong process or context.</exception>
    public void SignalObject(uint processId, VidSchContext context, uint handle) =>
        StreamThunk(processId, context, handle, reset: false);

    /// <summary>Resets a notification event on <paramref name="context"/>'s stream. One ring-0 entry.</summary>
    /// <exception cref="SyncObjectException">Unknown handle, wrong process or context, not an event.</exception>
    public void ResetEvent(uint processId, VidSchContext context, uint handle) =>
        StreamThunk(processId, context, handle, reset: true);

    private void StreamThunk(uint processId, VidSchContext context, uint handle, bool reset)
    {
        ArgumentNullException.ThrowIfNull(context);
        Span<uint> a = [(uint)context.Id, handle];
        using var call = _gate.Enter(processId, MemoryMarshal.AsBytes(a));
        var k = MemoryMarshal.Cast<byte, uint>(call.Arguments);
        var ctx = ContextOf(processId, (int)k[0]);
        if (reset) ctx.Scheduler.ResetEvent(processId, ctx, k[1]);
        else ctx.Scheduler.SignalObject(processId, ctx, k[1]);
    }

    // The context of any engine's scheduler of this device (they share one kernel lock and the object table).
    private VidSchContext ContextOf(uint processId, int id)
    {
        foreach (var s in _scheduler.GroupMembers)
            if (s.FindContext(id) is { } c && c.ProcessId == processId) return c;
        throw new SyncObjectException(SyncObjectError.WrongProcess, 0, $"context {id} is not process {processId}'s");
    }
}
