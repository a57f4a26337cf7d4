using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Tests.Umd;

/// <summary>Review fixes: misusing the builder's public API throws a typed error and leaves the builder usable.</summary>
public class CommandBufferBuilderMisuseTests
{
    private sealed class CountingSink : ICommandBufferSink
    {
        public int Submitted;
        public int LastReferences;
        public void Submit(ReadOnlySpan<uint> commands, ReadOnlySpan<ResourceReference> resources)
        {
            Submitted++;
            LastReferences = resources.Length;
        }
    }

    [Test]
    public void Reference_BeyondTheResourceListsCapacity_ThrowsAndChangesNothing()
    {
        // Given a builder whose command buffer holds two resource-list entries, both used by one packet.
        var sink = new CountingSink();
        var b = new CommandBufferBuilder(sink, capacityDwords: 64, capacityReferences: 2);
        var h = new AllocationHandle(1, 1);
        b.GetSpan(4, 2)[0] = 0;
        b.Reference(h, 0, write: true);
        b.Reference(h, 0, write: true);

        // When a third operand is recorded for the same packet (more than GetSpan reserved).
        Assert.Throws<InvalidOperationException>(() => b.Reference(h, 0, write: true));

        // Then the builder still holds exactly two entries and flushes them.
        Assert.That(b.PendingReferences, Is.EqualTo(2));
        b.Advance(4);
        b.Flush();
        Assert.That((sink.Submitted, sink.LastReferences), Is.EqualTo((1, 2)));
    }
}
