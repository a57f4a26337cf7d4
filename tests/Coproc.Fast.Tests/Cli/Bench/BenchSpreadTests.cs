using System.Text.Json;
using Coproc.Cli;
using Coproc.Cli.Commands;

namespace Coproc.Fast.Tests.Cli.Bench;

/// <summary>
/// <c>coproc bench</c> measures in interleaved rounds and reports the median and min–max of every value, with units
/// that match the value (no speed is asserted: the workloads are tiny here).
/// </summary>
public class BenchSpreadTests
{
    private static (int Code, string Out, string Err) Bench(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Program.Run(["bench", .. args], CliConsole.To(o, e));
        return (code, o.ToString(), e.ToString());
    }

    [Test]
    public void BenchJson_KeepsEveryKeyAsTheMedian_AndAddsMinAndMaxAroundIt()
    {
        var (code, output, err) = Bench("--json", "--quick", "--scale", "0.002", "-n", "3");
        Assert.That(code, Is.Zero, err);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.That(root.GetProperty("repetitions").GetInt32(), Is.EqualTo(3));
        foreach (var key in BenchCommand.RequiredKeys.Concat(["copy_1mib_gb_per_s", "memcpy_1mib_gb_per_s"]))
        {
            double median = root.GetProperty(key).GetDouble(), min = root.GetProperty(key + "_min").GetDouble(), max = root.GetProperty(key + "_max").GetDouble();
            Assert.That(min, Is.LessThanOrEqualTo(median), key);
            Assert.That(median, Is.LessThanOrEqualTo(max), key);
        }
        Assert.That(root.GetProperty("ring3_over_ring0_max").GetDouble(), Is.GreaterThan(0));
        Assert.That(root.TryGetProperty("load_average_1m", out _), Is.True);
        Assert.That(err, Does.Contain("(round 3/3)"), "progress goes to standard error, round by round");
    }

    [Test]
    public void BenchTable_ShowsMedianMinMax_WithGigabytesPerSecondForBandwidths()
    {
        var (code, output, err) = Bench("--quick", "--scale", "0.002", "--repetitions=2");
        Assert.That(code, Is.Zero, err);
        Assert.That(output, Does.Contain("median").And.Contain("min").And.Contain("max").And.Contain("over 2 interleaved rounds"));
        var bandwidth = output.Split('\n').Where(l => l.Contains("_gb_per_s", StringComparison.Ordinal)).ToArray();
        Assert.That(bandwidth, Has.Length.EqualTo(4));
        foreach (var row in bandwidth)
        {
            Assert.That(row, Does.Contain(" GB/s"), row);
            Assert.That(row, Does.Not.Contain("M/s"), row);
        }
        Assert.That(output.Split('\n').Single(l => l.Contains("ring3_over_ring0", StringComparison.Ordinal)), Does.Contain("×"));
    }

    [TestCase(null, null)]
    [TestCase(0.5, null)]
    [TestCase(1.0, null)]
    [TestCase(3.25, "load average is 3.25")]
    public void LoadWarning_AppearsOnlyAboveOne(double? load, string? expected)
    {
        var warning = BenchCommand.LoadWarning(load);
        if (expected is null) Assert.That(warning, Is.Null);
        else Assert.That(warning, Does.Contain(expected));
    }
}
