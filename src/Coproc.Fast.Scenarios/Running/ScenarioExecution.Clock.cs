using Coproc.Fast.Scenarios;

namespace Coproc.Fast.Scenarios.Running;

internal sealed partial class ScenarioExecution
{
    /// <summary>
    /// The vsync / presentation / progress bookkeeping both run loops share: which vsync comes next, the vsync whose
    /// presentation is still to be judged (<see cref="PresentCheckDelay"/> cycles after it), and the next progress report.
    /// </summary>
    private struct RunClock
    {
        public ulong Period, NextVsync, Vsyncs, Evaluate, ReportEvery, NextReport;

        public RunClock(ulong period, ulong duration)
        {
            Period = period;
            NextVsync = period == 0 ? ulong.MaxValue : period;
            Vsyncs = 0;
            Evaluate = ulong.MaxValue;
            ReportEvery = Math.Max(duration / 200, 1);
            NextReport = 0;
        }
    }

    /// <summary>
    /// After the machine reached <paramref name="now"/>: records a vsync that passed, judges the presenters once the
    /// check delay after it has passed, and reports progress (label suffix <paramref name="mode"/>).
    /// </summary>
    private void AdvanceClock(ref RunClock clock, ulong now, ulong duration, IProgress<ScenarioProgress>? progress, string mode)
    {
        if (now >= clock.NextVsync)
        {
            clock.Vsyncs++;
            Observer.Vsync(clock.NextVsync, clock.Vsyncs);
            clock.Evaluate = clock.NextVsync;
            clock.NextVsync += clock.Period;
        }
        if (clock.Evaluate != ulong.MaxValue && now >= clock.Evaluate + PresentCheckDelay)
        {
            foreach (var p in _presenters) p?.OnVsync(clock.Evaluate);
            clock.Evaluate = ulong.MaxValue;
        }
        if (progress is not null && now >= clock.NextReport)
        {
            clock.NextReport = now + clock.ReportEvery;
            progress.Report(new ScenarioProgress(Math.Min(now, duration), duration, $"{_scenario.Name}: vsync {clock.Vsyncs}{mode}"));
        }
    }
}
