using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling;

[TestFixture]
public sealed class SplitPlannerTests
{
    private static readonly AllocationHandle A = new(1, 1), B = new(2, 1), C = new(3, 1);

    private static uint[] Splits(params ResourceReference[] refs)
    {
        var s = new uint[refs.Length + 1];
        int n = SplitPlanner.FindSplitPoints(refs, s, new AllocationHandle[16], new uint[16]);
        return s[..n];
    }

    [Test]
    public void Behaviour08_DifferentResourceIds_InTheSameRange_AreNeverSeparated()
    {
        // Texture A in stage 1 at the start and the end, texture B in stage 2 in the middle: used simultaneously.
        var s = Splits(new(A, 0, 1, false), new(B, 40, 2, false), new(A, 80, 1, false), new(C, 120, 0, true));
        Assert.That(s, Is.EqualTo(new uint[] { 120 }), "no split between offsets 0 and 80 while A stays bound");
    }

    [Test]
    public void Behaviour08_SameResourceId_BReplacesA_SplitPermittedBetweenThem()
    {
        var s = Splits(new(A, 0, 1, false), new(B, 40, 1, false), new(A, 80, 1, false));
        Assert.That(s, Is.EqualTo(new uint[] { 40, 80 }));
    }

    [Test]
    public void SplitPoints_AreOnlyResourceListOffsets_AndNeverZero()
    {
        var s = Splits(new(A, 0, 0, true), new(B, 12, 0, true), new(B, 12, 2, false), new(C, 64, 0, true));
        Assert.That(s, Is.EqualTo(new uint[] { 12, 64 }));
    }
}
