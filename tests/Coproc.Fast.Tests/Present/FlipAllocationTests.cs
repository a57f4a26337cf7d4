using Coproc.Fast.Driver.Display;

namespace Coproc.Fast.Tests.Present;

[TestFixture]
public sealed class FlipAllocationTests
{
    [TestCase(FlipKind.Immediate)]
    [TestCase(FlipKind.Vsync)]
    public void FlipPath_SteadyState_AllocatesNothingOnTheManagedHeap(FlipKind kind)
    {
        using var h = new PresentHarness(bufferCount: 2);
        h.Display.FlipCompleted = null;
        int refused = 0;
        void Frame(int i)
        {
            h.Render(1 + (i & 1), (uint)i);
            if (!h.Display.TryFlip(1, h.Context, h.Surfaces[1 + (i & 1)], kind, out _)) refused++;
            h.Machine.RunUntilIdle();
        }
        for (int i = 0; i < 300; i++) Frame(i); // warm-up: pools, the decided-flip window, JIT

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) Frame(i);
        long after = GC.GetAllocatedBytesForCurrentThread();

        Assert.That((refused, h.Chain.Presented), Is.EqualTo((0, 400L)));
        Assert.That(after - before, Is.Zero, "render + flip + present, frame after frame");
    }
}
