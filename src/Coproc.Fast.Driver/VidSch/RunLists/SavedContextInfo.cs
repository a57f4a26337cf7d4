using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Driver.VidSch.RunLists;

/// <summary>What the driver learns about a non-running context (seed 001 §4.1 queries 1–4).</summary>
/// <param name="LastSwitchReason">Why it was last switched away (empty, new run list, page fault, …).</param>
/// <param name="CyclesRun">Device cycles it has run, switch-in costs included.</param>
/// <param name="FaultAddress">The faulting VA while it is faulted (page-level faulting), else 0.</param>
/// <param name="Faulted">True while Faulted is set in its save area (the device skips it).</param>
/// <param name="HasQueuedWork">Queued but unprocessed commands in its ring (the "empty" race check).</param>
/// <param name="ResourcesInUse">Allocations its outstanding buffers listed or it faulted on (surface-level faulting's list).</param>
public sealed record SavedContextInfo(SwitchReason LastSwitchReason, ulong CyclesRun, ulong FaultAddress, bool Faulted,
    bool HasQueuedWork, AllocationHandle[] ResourcesInUse);
