using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Driver.VidMm.Residency;

// Memory in transit (seed 001 §3.6: VidMm records a move at once, the device executes its paging buffer later).
//
// Invariant: memory free in VidMm's segments is never a range that a recorded, unexecuted paging operation still reads
// or writes. The kernel writes the structures it allocates with CPU stores at once (a context's save area and ring, page
// tables, fence pages, zeroed backing stores), and a CPU store lands before the device's COPY runs: an eviction's source
// handed back to the allocator at once let a new save area overwrite the evicted allocation's bytes before the COPY read
// them, so the process's backing store received the kernel's bytes.
//
// So a range an eviction or relocation vacates (its source), and the memory of an allocation destroyed while its paging
// is still pending (local home and backing store), stays allocated here, tagged with the paging fence that says the
// operation executed: (fence address, value), set when the paging buffer is built (BuildPagingBuffer: the last fence
// value that buffer writes follows every one of its copies). Only the residency planner may place into it
// (MakeResident releases the local ranges for the plan and takes back what the plan left free): its page-ins and
// relocations are ordered after the operation that vacated the range by the paging order itself — the same paging
// buffer after the merged fence (§3.6), the same paging ring (a machine's one device paging queue), or a WAIT_FENCE on
// another channel's paging fence (Order.cs) — so reuse by paging is never refused and never
// waits. Everything else — the kernel's structures (VideoMemoryManager.Allocate, page tables, backing stores) and
// processes' allocations (Kmd.Allocate) alike — gets the range only once the device has written the tag's value to the
// fence (RetireInTransit, read from memory: the device's own word): an allocation whose only room is in transit fails
// with OutOfLocalMemory as if the evicted data were still there, and the callers that may wait (outside the kernel lock,
// off the machine's threads: Machine.CreateContext and CreateUserQueue, Kmd.Allocate, UserQueueRegistrar.Open,
// RunListScheduler.CreateContext; InTransitWait) wait for the paging and try again.
//
// So a process never reads or writes memory in transit: its allocation is handed out after the eviction's COPY ran, and
// cleared then by the CPU (VideoMemoryManager.AllocateForProcess: a retired range is "freed before", so ClearReused
// zeroes it) — it never sees the evicted allocation's old local copy, and a writer that waits for no paging (a ring-3
// user queue, an advanced-model context writing through its GPU VA) cannot overwrite bytes the COPY has yet to read.
public sealed partial class ResidencyManager
{
    private readonly record struct InTransit(PhysicalExtent Range, PhysicalAddress Fence, ulong Value) // Value 0: not built yet
    {
        public bool Sealed => Value != 0;
    }

    private readonly List<InTransit> _inTransit = new();
    private readonly List<InTransit> _inTransitKeep = new();
    private readonly List<PhysicalExtent> _vacated = new(8); // sources a committed plan vacated
    private ulong _inTransitLocalBytes; // local bytes held in _inTransit (0 while released for a plan)
    private bool _inTransitReleased;

    /// <summary>
    /// Bytes of local and system memory held back because a recorded paging operation that has not executed yet still
    /// reads or writes them (an eviction's or relocation's source; a destroyed allocation's memory while its paging is
    /// pending). Only paging ordered after that operation may reuse them; other allocations get them once the device has
    /// written the operation's paging fence (<see cref="RetireInTransit"/>; docs/memory.md, "Memory in transit").
    /// </summary>
    public ulong InTransitBytes
    {
        get
        {
            ulong bytes = 0;
            foreach (var e in _inTransit) bytes += e.Range.Bytes;
            return bytes;
        }
    }

    /// <summary>
    /// Returns to VidMm's segments the memory in transit whose paging has executed (its paging fence, read from memory,
    /// has reached the value of the buffer that recorded it). Returns the bytes returned. Cheap when nothing is in
    /// transit; VidMm calls it before allocating, the paging channels when their fence advances.
    /// </summary>
    public ulong RetireInTransit()
    {
        if (_inTransit.Count == 0 || _inTransitReleased) return 0;
        ulong freed = 0;
        int k = 0;
        for (int i = 0; i < _inTransit.Count; i++)
        {
            var e = _inTransit[i];
            if (!e.Sealed || !Passed(e.Fence, e.Value)) { _inTransit[k++] = e; continue; }
            _vidmm.SegmentOf(e.Range.Address.Location).Free(e.Range);
            if (e.Range.Address.Location == MemoryLocation.Local) _inTransitLocalBytes -= e.Range.Bytes;
            freed += e.Range.Bytes;
        }
        _inTransit.RemoveRange(k, _inTransit.Count - k);
        return freed;
    }

    // The range stays allocated until the paging that still touches it has executed.
    private void HoldInTransit(PhysicalExtent range, PhysicalAddress fence, ulong value)
    {
        _inTransit.Add(new InTransit(range, fence, value));
        if (range.Address.Location == MemoryLocation.Local) _inTransitLocalBytes += range.Bytes;
    }

    // True while a paging operation recorded for slot s may not have executed yet (not built, or its fence not reached).
    private bool PagingPending(int s) => _m[s].PagingValue == ulong.MaxValue || (_m[s].PagingValue != 0 && !Passed(_m[s].PagingFence, _m[s].PagingValue));

    private bool Passed(PhysicalAddress fence, ulong value)
    {
        var word = _vidmm.Memory.GetSpan(fence, sizeof(ulong));
        ulong now = Volatile.Read(ref Unsafe.As<byte, ulong>(ref MemoryMarshal.GetReference(word)));
        return (long)(now - value) >= 0;
    }

    // BuildPagingBuffer: every operation recorded so far and not yet in a built paging buffer is in this one, which
    // writes `last` to `fence` after all its copies.
    private void SealInTransit(ReadOnlySpan<PagingOperation> commands, PhysicalAddress fence, ulong last)
    {
        for (int i = 0; i < _inTransit.Count; i++)
            if (!_inTransit[i].Sealed) _inTransit[i] = _inTransit[i] with { Fence = fence, Value = last };
        foreach (var op in commands)
        {
            if (!IsManaged(op.Handle)) continue;
            _m[op.Handle.Index].PagingFence = fence;
            _m[op.Handle.Index].PagingValue = last;
        }
    }

    // MakeResident, before planning: the planner may place into local memory in transit (its paging is ordered after the
    // operation that vacated it). Logged as frees, so a refused request takes it back exactly (RollBack).
    private void ReleaseInTransitForPlan()
    {
        RetireInTransit();
        foreach (var e in _inTransit)
            if (e.Range.Address.Location == MemoryLocation.Local) FreeLocal(e.Range);
        _inTransitReleased = true;
    }

    // After a refused plan (RollBack re-allocated the released ranges).
    private void EndPlanRefused() => _inTransitReleased = false;

    // After a committed plan: the sources it vacated (new, not built yet) and the released ranges (with their tags) are
    // held again, except the pages the plan placed an allocation in. New ranges first: where a page is in both, the newer
    // operation is the one that still reads it last.
    private void EndPlanCommitted()
    {
        _inTransitReleased = false;
        _inTransitKeep.Clear();
        foreach (var range in _vacated) ClaimFreePages(range, default, 0);
        _vacated.Clear();
        HoldAgain();
    }

    // Holds again, with their tags, the free pages of the local ranges in _inTransit (released to the allocator).
    private void HoldAgain()
    {
        foreach (var e in _inTransit)
        {
            if (e.Range.Address.Location == MemoryLocation.Local) ClaimFreePages(e.Range, e.Fence, e.Value);
            else _inTransitKeep.Add(e);
        }
        _inTransit.Clear();
        _inTransit.AddRange(_inTransitKeep);
        _inTransitKeep.Clear();
        _inTransitLocalBytes = 0;
        foreach (var e in _inTransit)
            if (e.Range.Address.Location == MemoryLocation.Local) _inTransitLocalBytes += e.Range.Bytes;
    }

    // Holds the pages of `range` that no managed allocation owns (the plan left them free) as runs in _inTransitKeep.
    private void ClaimFreePages(PhysicalExtent range, PhysicalAddress fence, ulong value)
    {
        ulong first = range.Address.Offset >> 12, end = first + (range.Bytes >> 12);
        bool placed = false;
        for (ulong p = first; p < end;)
        {
            if (_owner[p] != 0) { placed = true; p++; continue; }
            ulong run = p;
            while (run < end && _owner[run] == 0) run++;
            if (_vidmm.Local.Pages.TryAllocateAt(p, run - p)) Keep(p, run - p, fence, value);
            else
            {
                // Part of the run is already held (by a newer range over the same pages): take the rest page by page.
                for (ulong q = p; q < run; q++)
                    if (_vidmm.Local.Pages.TryAllocateAt(q, 1)) Keep(q, 1, fence, value);
            }
            p = run;
        }
        // The plan placed an allocation into memory an earlier paging (maybe another channel's) still reads or writes:
        // its paging buffer waits for that fence (ResidencyManager.Order.cs).
        if (placed) NoteWait(fence, value);
    }

    private void Keep(ulong page, ulong pages, PhysicalAddress fence, ulong value)
    {
        var extent = new PhysicalExtent(PhysicalAddress.Local(page << 12), pages << 12);
        // Neighbouring single pages of one range merge back into one entry.
        if (_inTransitKeep.Count > 0 && _inTransitKeep[^1] is var last && last.Value == value && last.Fence == fence
            && last.Range.Address.Location == MemoryLocation.Local && last.Range.Address.Offset + last.Range.Bytes == extent.Address.Offset)
        {
            _inTransitKeep[^1] = last with { Range = new PhysicalExtent(last.Range.Address, last.Range.Bytes + extent.Bytes) };
            return;
        }
        _inTransitKeep.Add(new InTransit(extent, fence, value));
    }
}
