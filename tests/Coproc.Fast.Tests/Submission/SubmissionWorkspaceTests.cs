using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Models;

namespace Coproc.Fast.Tests.Submission;

/// <summary>
/// <see cref="Machine.TrySubmit"/> reuses what a call works in (docs/models.md "One submission call"): the recorders and
/// the kernel path's command buffer come from a pool, and a user queue keeps one writer for the path. These tests hold
/// the invariants that reuse must not break — a call allocates nothing in steady state; a recording that threw leaves
/// nothing for the next one; a refused call leaves nothing published; the reused queue writer never overwrites packets
/// another writer of the process published since its last use.
/// </summary>
[TestFixture]
public class SubmissionWorkspaceTests
{
    private const int Slots = 256; // one dword per submission in the target

    // The kernel path's room is the process's outstanding-submission quota, kept small so it runs out in a short loop.
    private static (Machine M, GpuContext Context, AllocationHandle Target, AllocationHandle Fence) Rig(SchedulingModel model)
    {
        var m = new Machine(new MachineOptions
        {
            Model = model, Device = ModelWorkload.Device(), Quotas = new KmdQuotas { MaxOutstandingSubmissions = 32 },
        });
        var target = m.Kmd.Allocate(1, 64 << 10, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var fence = m.Kmd.Allocate(1, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        return (m, m.OpenContext(1), target, fence);
    }

    private static uint ReadDword(Machine m, AllocationHandle h, int index) =>
        BitConverter.ToUInt32(ModelWorkload.Read(m, h, 64 << 10), index * 4);

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void GivenASubmissionLoop_WhenItReachesSteadyState_ThenTrySubmitAllocatesNothing(SchedulingModel model)
    {
        var (m, context, target, fence) = Rig(model);
        using var _ = m;
        Action<WorkRecorder> cached = r => { r.Fill(target, 4096, 0x5A5A_5A5Au, 4096); r.Fence(fence, 0, 1); };
        ulong n = 0;
        bool Submit(bool generic) => generic
            ? m.TrySubmit(context, (target, fence, value: ++n), static (r, s) => { r.WriteData(s.target, 0, (uint)s.value); r.Fence(s.fence, 0, s.value); })
            : m.TrySubmit(context, cached);
        for (int i = 0; i < 64; i++) // warm-up: mappings, buffers, pools, the JIT
        {
            Assert.That(Submit(i % 2 == 0), Is.True);
            m.RunUntilIdle();
        }

        long allocated = 0;
        for (int i = 0; i < 200; i++)
        {
            bool generic = i % 2 == 0;
            long before = GC.GetAllocatedBytesForCurrentThread();
            bool ok = Submit(generic);
            allocated += GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.That(ok, Is.True);
            m.RunUntilIdle();
        }

        Assert.That(allocated, Is.Zero, "bytes allocated by 200 TrySubmit calls (both overloads)");
        Assert.That(ReadDword(m, target, 0), Is.EqualTo((uint)n), "the last generic recording ran");
        Assert.That(ReadDword(m, target, 1024), Is.EqualTo(0x5A5A_5A5Au), "the cached delegate's recording ran");
    }

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void GivenARecordingThatThrowsHalfWay_ThenNothingOfItRuns_AndTheNextRecordingRunsAlone(SchedulingModel model)
    {
        var (m, context, target, fence) = Rig(model);
        using var _ = m;

        var thrown = Assert.Throws<InvalidOperationException>(() => m.TrySubmit(context, r =>
        {
            r.Fill(target, 0, 0xDEAD_BEEFu, 16 << 10);
            r.Fence(fence, 0, 99);
            throw new InvalidOperationException("the workload's own error");
        }));
        Assert.That(thrown!.Message, Is.EqualTo("the workload's own error"), "the callback's exception reaches the caller unchanged");

        Assert.That(m.TrySubmit(context, r => { r.WriteData(target, 8, 0x1234_5678u); r.Fence(fence, 0, 1); }), Is.True);
        m.RunUntilIdle();

        Assert.That(ReadDword(m, target, 2), Is.EqualTo(0x1234_5678u), "the next recording ran");
        Assert.That(ReadDword(m, target, 0), Is.Zero, "nothing of the recording that threw ran (its FILL stayed in no buffer)");
        Assert.That(ModelWorkload.Read(m, fence, 4096)[0], Is.EqualTo((byte)1), "only the second recording's fence landed");
    }

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void GivenARecorderKeptPastItsCall_WhenUsedLater_ThenItRefusesAndRecordsNothing(SchedulingModel model)
    {
        var (m, context, target, fence) = Rig(model);
        using var _ = m;
        WorkRecorder? kept = null;
        Assert.That(m.TrySubmit(context, r => { kept = r; r.Fence(fence, 0, 1); }), Is.True);

        Assert.Throws<InvalidOperationException>(() => kept!.WriteData(target, 0, 0xBAD0_0BADu));
        Assert.That(m.TrySubmit(context, r => r.Fence(fence, 0, 2)), Is.True);
        m.RunUntilIdle();

        Assert.That(ReadDword(m, target, 0), Is.Zero, "the kept recorder's write reached no buffer");
        Assert.That(ModelWorkload.Read(m, fence, 4096)[0], Is.EqualTo((byte)2));
    }

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void GivenSubmissionsUntilThereIsNoRoom_ThenEveryAcceptedRecordingRuns_AndNothingOfARefusedOneDoes(SchedulingModel model)
    {
        var (m, context, target, _) = Rig(model);
        using var _m = m;
        const int Fills = 12; // per recording: one dword each, in the attempt's own region
        var firstTryAccepted = new bool[Slots];
        // A recording of (slot, attempt): FILLs of its own dwords in attempt's region, then a WRITE_DATA marking the slot.
        // Without running the machine the path fills up (16 run-list buffers, the queue's ring, the kernel path's quota);
        // a refused first attempt is tried again once the machine ran, into the second region.
        bool Record(int slot, int attempt) => m.TrySubmit(context, r =>
        {
            for (int k = 0; k < Fills; k++)
                r.Fill(target, (ulong)((16 << 10) + attempt * (16 << 10) + (slot * Fills + k) * 4), 0xF000_0000u | (uint)(attempt << 16) | (uint)slot, 4);
            r.WriteData(target, (ulong)slot * 4, 0x1000_0000u | (uint)slot);
        });
        for (int slot = 0; slot < Slots; slot++)
        {
            firstTryAccepted[slot] = Record(slot, 0);
            if (firstTryAccepted[slot]) continue;
            m.RunUntilIdle();
            Assert.That(Record(slot, 1), Is.True, $"slot {slot} accepted once the machine made room");
        }
        m.RunUntilIdle();

        Assert.That(firstTryAccepted, Has.Some.False, "the premise: the path ran out of room at least once");
        var bytes = ModelWorkload.Read(m, target, 64 << 10);
        uint Dword(int index) => BitConverter.ToUInt32(bytes, index * 4);
        for (int slot = 0; slot < Slots; slot++)
        {
            Assert.That(Dword(slot), Is.EqualTo(0x1000_0000u | (uint)slot), $"slot {slot}'s mark");
            for (int attempt = 0; attempt < 2; attempt++)
            {
                bool ran = attempt == 0 ? firstTryAccepted[slot] : !firstTryAccepted[slot];
                uint expected = ran ? 0xF000_0000u | (uint)(attempt << 16) | (uint)slot : 0;
                for (int k = 0; k < Fills; k++)
                    Assert.That(Dword(((16 << 10) + attempt * (16 << 10)) / 4 + slot * Fills + k), Is.EqualTo(expected),
                        $"slot {slot}, attempt {attempt} ({(ran ? "accepted" : "refused or never made")}), fill {k}");
            }
        }
    }

    [Test]
    public void GivenTheProcessesOwnQueueWriterPublishedBetweenTwoCalls_ThenTrySubmitContinuesAfterIt_AndAllThreeRun()
    {
        var (m, context, target, fence) = Rig(SchedulingModel.Hardware);
        using var _ = m;
        var q = (UserQueueContext)context;
        var own = m.Kmd.Allocate(1, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        ulong ownVa = m.Process(1).GpuSpace.MapAllocation(own);

        Assert.That(m.TrySubmit(context, r => r.WriteData(target, 0, 0xA1u)), Is.True);
        var writer = q.Registration.Open(m.Device.Memory); // the process's own ring-3 writer, opened at the published WritePtr
        var packet = new uint[8];
        var w = new Coproc.Fast.Device.Packets.PacketWriter(packet);
        w.WriteData(ownVa, 0xB2u);
        Assert.That(writer.TryWrite(packet.AsSpan(0, w.Written)), Is.True);
        writer.Flush();
        Assert.That(m.TrySubmit(context, r => r.WriteData(target, 8, 0xC3u)), Is.True); // must not overwrite the process's packet

        m.RunUntilIdle();
        Assert.That((ReadDword(m, target, 0), BitConverter.ToUInt32(ModelWorkload.Read(m, own, 4096), 0), ReadDword(m, target, 2)),
            Is.EqualTo((0xA1u, 0xB2u, 0xC3u)));
        Assert.That(context.IsStopped, Is.False);
    }
}
