using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Driver.VidSch;

/// <summary>
/// Where a DMA buffer may be split (seed 001 §3.2, §3.4; behaviours 7–9). Candidate split points are the byte
/// offsets of resource-list entries (packet starts). A split at offset <c>o</c> is forbidden when a resource stays
/// bound across it: two consecutive references in the same resource-id slot to the same allocation, one before
/// <c>o</c> and one at or after it, mean the allocation is in use throughout — and so simultaneously with whatever
/// other ids are referenced in between. A different allocation in the same slot replaces the earlier one, which
/// ends its use and permits a split there (§3.2, texture A / B example).
/// </summary>
public static class SplitPlanner
{
    /// <summary>
    /// Writes the permitted split offsets (ascending, each &gt; 0) of a resource list sorted by offset into
    /// <paramref name="splits"/> and returns how many. <paramref name="lastHandleBySlot"/> and
    /// <paramref name="lastOffsetBySlot"/> are scratch of at least max resource id + 1 entries.
    /// </summary>
    public static int FindSplitPoints(ReadOnlySpan<ResourceReference> references, Span<uint> splits,
        Span<Coproc.Fast.Driver.VidMm.AllocationHandle> lastHandleBySlot, Span<uint> lastOffsetBySlot)
    {
        // Distinct candidate offsets.
        int n = 0;
        for (int i = 0; i < references.Length; i++)
        {
            uint o = references[i].BufferOffset;
            if (o == 0 || (n > 0 && splits[n - 1] == o)) continue;
            splits[n++] = o;
        }
        if (n == 0) return 0;
        // Blocked ranges (prev, cur] from consecutive same-slot same-allocation references: a difference array
        // over the candidate indices.
        Span<int> cover = n <= 512 ? stackalloc int[n + 1] : new int[n + 1];
        cover.Clear();
        lastHandleBySlot.Clear();
        lastOffsetBySlot.Fill(uint.MaxValue);
        for (int i = 0; i < references.Length; i++)
        {
            var r = references[i];
            int slot = r.ResourceId;
            if (lastOffsetBySlot[slot] != uint.MaxValue && lastHandleBySlot[slot] == r.Handle && lastOffsetBySlot[slot] < r.BufferOffset)
            {
                int from = LowerBound(splits[..n], lastOffsetBySlot[slot] + 1);
                int to = LowerBound(splits[..n], r.BufferOffset + 1); // exclusive: candidates ≤ cur
                if (from < to) { cover[from]++; cover[to]--; }
            }
            lastHandleBySlot[slot] = r.Handle;
            lastOffsetBySlot[slot] = r.BufferOffset;
        }
        int kept = 0, running = 0;
        for (int i = 0; i < n; i++)
        {
            running += cover[i];
            if (running == 0) splits[kept++] = splits[i];
        }
        return kept;
    }

    private static int LowerBound(ReadOnlySpan<uint> sorted, uint value)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (sorted[mid] < value) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }
}
