using System.Diagnostics.Metrics;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Diagnostics;

public class CoprocMetricsTests
{
    [Test]
    public void MeterListener_SeesIncrementsOfEveryInstrument_ByItsDocumentedName()
    {
        var seen = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == CoprocMetrics.MeterName) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            lock (seen) seen[instrument.Name] = seen.GetValueOrDefault(instrument.Name) + value;
        });
        listener.Start();

        CoprocMetrics.Submissions.Add(3);
        CoprocMetrics.Doorbells.Add(1);
        CoprocMetrics.BytesPaged.Add(4096);
        CoprocMetrics.Faults.Add(1);
        CoprocMetrics.Preemptions.Add(2);
        CoprocMetrics.FencesSignaled.Add(5);

        Assert.That(seen["coproc.submissions"], Is.EqualTo(3));
        Assert.That(seen["coproc.doorbells"], Is.EqualTo(1));
        Assert.That(seen["coproc.bytes_paged"], Is.EqualTo(4096));
        Assert.That(seen["coproc.faults"], Is.EqualTo(1));
        Assert.That(seen["coproc.preemptions"], Is.EqualTo(2));
        Assert.That(seen["coproc.fences_signaled"], Is.EqualTo(5));
        Assert.That(CoprocMetrics.Meter.Name, Is.EqualTo("Coproc.Fast"));
    }

    [Test]
    public void Counter_WithNoListener_IsDisabled()
    {
        // Nothing listening (no listener in this test): Add is a flag check and nothing else.
        Assert.That(CoprocMetrics.ContextSwitches.Enabled, Is.False);
        CoprocMetrics.ContextSwitches.Add(1);
    }
}
