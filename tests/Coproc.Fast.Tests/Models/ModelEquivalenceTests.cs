using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver;

namespace Coproc.Fast.Tests.Models;

/// <summary>
/// The three scheduling models are three ways to schedule the same work, not three devices: the same deterministic
/// workload leaves the same bytes in memory whichever model ran it (what differs is timing, paging and faults;
/// docs/models.md).
/// </summary>
public class ModelEquivalenceTests
{
    [TestCase(1)]
    [TestCase(7)]
    [TestCase(2026)]
    public void TheSameWorkload_InEveryModel_LeavesByteIdenticalSurfaces_EqualToACpuModel(int seed)
    {
        // Given random FILLs and COPYs over two surfaces, in three batches.
        var batches = ModelWorkload.Batches(seed);
        var expected = ModelWorkload.CpuModel(batches);

        // When each model runs them its own way (kernel copy-in and patching; user buffers with demand faulting and run
        // lists; a ring-3 user queue rung through its doorbell).
        var results = new[] { SchedulingModel.Basic, SchedulingModel.Advanced, SchedulingModel.Hardware }
            .ToDictionary(m => m, m => ModelWorkload.Run(m, batches));

        // Then every model's surfaces are byte for byte the CPU model's.
        foreach (var (model, surfaces) in results)
            for (int i = 0; i < 2; i++)
                Assert.That(surfaces[i].AsSpan().SequenceEqual(expected[i]), Is.True, $"{model}: surface {i} differs from the CPU model");
    }

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void ARing3UserQueue_RunsInEveryModel(SchedulingModel model)
    {
        // Given a machine in the model and a user queue registered once through the gate on the copy engine (in the
        // advanced model render belongs to the run-list back end; user queues run on every engine).
        var batches = ModelWorkload.Batches(11);

        // When its batches are written and rung from ring 3.
        var surfaces = ModelWorkload.RunUserQueue(model, batches, EngineKind.Copy);

        // Then the device ran them: the bytes are the CPU model's.
        var expected = ModelWorkload.CpuModel(batches);
        for (int i = 0; i < 2; i++) Assert.That(surfaces[i].AsSpan().SequenceEqual(expected[i]), Is.True, $"surface {i}");
    }
}
