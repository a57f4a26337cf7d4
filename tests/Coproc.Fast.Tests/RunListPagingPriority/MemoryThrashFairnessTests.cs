using Coproc.Fast.Driver;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Scenarios.Running;
using Coproc.Fast.Tests.Cli;

namespace Coproc.Fast.Tests.RunListPagingPriority;

/// <summary>
/// Equal-priority contexts of one engine share it by the quantum (seed 001 §5.5 fair share among equals) also under
/// memory pressure in the advanced model: the shipped memory-thrash scenario (six renderers of priority 8, 48 MiB each,
/// 256 MiB of local memory) must not leave some renderers paging their surfaces in again and again while others, whose
/// working sets the busy-context protection keeps (RunListScheduler.Paging.cs), finish far fewer buffers.
/// </summary>
public class MemoryThrashFairnessTests
{
    [Test]
    public void GivenSixEqualRenderersBeyondLocalMemory_WhenTheyRunInTheAdvancedModel_ThenEachFinishesAFairShareOfBuffers()
    {
        var scenario = ScenarioLoader.LoadFile(RepoFiles.Scenario("memory-thrash.json"));
        var report = new VidSchScenarioRunner().Run(scenario, new ScenarioRunOptions(new Driver.Diagnostics.TraceRecorder(1)) { Model = SchedulingModel.Advanced }, null, default);

        var buffers = report.Rows.Select(r => r.BuffersCompleted).ToArray();
        Assert.That(buffers.Min(), Is.GreaterThanOrEqualTo(buffers.Max() * 3 / 4),
            $"buffers per renderer: {string.Join(", ", buffers)}; MiB paged: {string.Join(", ", report.Rows.Select(r => r.BytesPaged >> 20))}");
    }
}
