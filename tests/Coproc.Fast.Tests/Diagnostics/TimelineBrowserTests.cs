using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Coproc.Fast.Tests.Diagnostics;

/// <summary>
/// Every shipped scenario's timeline.html in a real browser (the system Chromium, driven by Playwright): it loads
/// with no console error, zooms and reports the visible range, shows a slice's details on hover, selects a range
/// with a per-context summary, filters by context and labels its ticks with round times.
/// <para>
/// Chromium comes from the distribution (<c>apt-get install -y chromium</c>, done by .ci/run); Playwright cannot
/// download browsers here, so its path is <see cref="ChromiumPath"/> (override with COPROC_CHROMIUM). Without it the
/// tests FAIL, saying how to install it — unless COPROC_BROWSER_TESTS=inconclusive, which makes them inconclusive
/// (for machines where a browser cannot be installed). Every wait is a Playwright wait with a bounded timeout.
/// </para>
/// </summary>
[NonParallelizable]
public class TimelineBrowserTests
{
    private const float WaitMs = 30_000;
    private IPlaywright? _playwright;
    private IBrowser? _browser;

    /// <summary>Where the system Chromium is looked for.</summary>
    public static string ChromiumPath => Environment.GetEnvironmentVariable("COPROC_CHROMIUM") is { Length: > 0 } p ? p : "/usr/bin/chromium";

    [OneTimeSetUp]
    public async Task LaunchChromium()
    {
        if (!File.Exists(ChromiumPath))
        {
            string message = $"the timeline's browser tests need Chromium at {ChromiumPath}: install Debian's package " +
                             "(`apt-get update && apt-get install -y chromium`, as .ci/run does) or set COPROC_CHROMIUM to a Chromium binary";
            if (string.Equals(Environment.GetEnvironmentVariable("COPROC_BROWSER_TESTS"), "inconclusive", StringComparison.OrdinalIgnoreCase))
                Assert.Inconclusive(message);
            Assert.Fail(message);
        }
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Timeout = WaitMs,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"], // CI runs as root, in a container
        });
    }

    [OneTimeTearDown]
    public async Task CloseChromium()
    {
        if (_browser is not null) await _browser.CloseAsync();
        _playwright?.Dispose();
    }

    private static IEnumerable<string> Scenarios() => ShippedScenarioTraces.Names();

    private sealed record View(double StartNs, double EndNs)
    {
        public double Span => EndNs - StartNs;
    }

    private static async Task<View> ReadView(IPage page)
    {
        var v = await page.EvaluateAsync<double[]>("() => { const v = timeline.view(); return [v.startNs, v.endNs]; }");
        return new View(v[0], v[1]);
    }

    private async Task<(IPage Page, List<string> Errors)> Open(string scenario)
    {
        var (_, files) = ShippedScenarioTraces.Get(scenario);
        var page = await _browser!.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
        page.SetDefaultTimeout(WaitMs);
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") lock (errors) errors.Add(m.Text); };
        page.PageError += (_, e) => { lock (errors) errors.Add(e); };
        page.RequestFailed += (_, r) => { lock (errors) errors.Add("request failed: " + r.Url); };
        await page.GotoAsync(new Uri(files.TimelineHtml).AbsoluteUri);
        await page.WaitForFunctionAsync("() => window.timeline && window.timeline.ready === true", null, new PageWaitForFunctionOptions { Timeout = WaitMs });
        return (page, errors);
    }

    [TestCaseSource(nameof(Scenarios))]
    public async Task ShippedScenario_Timeline_Loads_Zooms_Hovers_Selects_AndFilters_WithNoConsoleError(string scenario)
    {
        var (report, _) = ShippedScenarioTraces.Get(scenario);
        var (page, errors) = await Open(scenario);
        try
        {
            // Loads: the whole run is visible and one row per context that did work is drawn.
            var full = await ReadView(page);
            Assert.That(full.StartNs, Is.EqualTo(0));
            Assert.That(full.EndNs, Is.GreaterThan(0));
            var rows = await page.EvaluateAsync<string[]>("() => timeline.rows()");
            Assert.That(report.Rows.Select(r => $"{r.Process} / {r.Context}").Where(rows.Contains), Is.Not.Empty, "context rows are drawn");
            // The first context that completed a buffer (a starved one has only its queue depth to show).
            string firstContext = report.Rows.Where(r => r.BuffersCompleted > 0).Select(r => $"{r.Process} / {r.Context}").First(rows.Contains);
            Assert.That(await page.Locator("#range").TextContentAsync(), Does.StartWith("visible: 0 ns"));

            // Ticks are round: one step apart, labels like "20 ms" or "2.5 µs".
            AssertRoundTicks(await page.EvaluateAsync<string[]>("() => timeline.ticks()"));

            // Zoom: the wheel over the middle of the plot narrows the visible range around the cursor.
            var plot = await page.Locator("#plot").BoundingBoxAsync();
            Assert.That(plot, Is.Not.Null);
            float cx = plot!.X + 240 + (plot.Width - 248) / 2, cy = plot.Y + 30;
            await page.Mouse.MoveAsync(cx, cy);
            await page.Mouse.WheelAsync(0, -600);
            await page.WaitForFunctionAsync($"() => timeline.view().endNs - timeline.view().startNs < {(full.Span * 0.9).ToString(CultureInfo.InvariantCulture)}");
            // The view and its readout, read together (a wheel gesture may arrive as more than one event).
            var read = await page.EvaluateAsync<double[]>(
                "() => { const v = timeline.view(), r = document.querySelector('#range'); return [v.startNs, v.endNs, +r.dataset.startNs, +r.dataset.endNs]; }");
            var zoomed = new View(read[0], read[1]);
            Assert.That(zoomed.StartNs, Is.GreaterThan(full.StartNs));
            Assert.That(zoomed.EndNs, Is.LessThan(full.EndNs));
            Assert.That((zoomed.StartNs + zoomed.EndNs) / 2, Is.EqualTo(full.Span / 2).Within(full.Span * 0.02), "zoomed about the cursor");
            Assert.That((read[2], read[3]), Is.EqualTo((zoomed.StartNs, zoomed.EndNs)), "the readout shows the visible range");
            AssertRoundTicks(await page.EvaluateAsync<string[]>("() => timeline.ticks()"));

            // Hover: back to the whole run, the pointer on a context's widest slice shows its details with a duration.
            await page.Keyboard.PressAsync("0");
            await page.WaitForFunctionAsync("() => timeline.view().startNs === 0");
            await page.EvaluateAsync("() => timeline.draw()");
            var at = await page.EvaluateAsync<Point?>("name => timeline.locate(name)", firstContext);
            Assert.That(at, Is.Not.Null, $"a visible slice in {firstContext}");
            await page.Mouse.MoveAsync(at!.X, at.Y);
            var tip = page.Locator("#tooltip");
            await tip.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Visible, Timeout = WaitMs });
            await page.WaitForFunctionAsync("n => document.querySelector('#tooltip').textContent.includes('on ' + n)", firstContext);
            string text = (await tip.TextContentAsync())!;
            Assert.That(text, Does.Contain("on " + firstContext).And.Contain("duration: ").And.Contain("cycles"));

            // Brush: dragging across the plot selects a range; the summary gives it and the contexts' busy time.
            await page.Mouse.MoveAsync(plot.X + 260, cy);
            await page.Mouse.DownAsync();
            await page.Mouse.MoveAsync(plot.X + plot.Width - 20, cy, new MouseMoveOptions { Steps = 4 });
            await page.Mouse.UpAsync();
            var summary = page.Locator("#summary");
            await page.WaitForFunctionAsync("() => document.querySelector('#summary').textContent.startsWith('Selection:')");
            Assert.That(await summary.TextContentAsync(), Does.Contain("% of selection"));
            if (report.Rows.Any(r => r.GpuCycles > 0))
                Assert.That(await summary.Locator("td").CountAsync(), Is.GreaterThan(0), "a busy-time row per context");

            // Search: only the matching context's row stays among the software queues.
            await page.Locator("#search").FillAsync(firstContext);
            // The match count appears when the filtered rows are drawn.
            await page.WaitForFunctionAsync("() => document.querySelector('#match-count').textContent.includes(' of ')");
            Assert.That(await page.EvaluateAsync<string[]>("() => timeline.rows()"), Does.Contain(firstContext));
            var filtered = await page.EvaluateAsync<string[]>("() => timeline.rows()");
            var otherContexts = report.Rows.Select(r => $"{r.Process} / {r.Context}").Where(n => n != firstContext && !n.Contains(firstContext, StringComparison.OrdinalIgnoreCase));
            Assert.That(filtered.Intersect(otherContexts), Is.Empty);

            Assert.That(errors, Is.Empty, "console errors, page errors or network requests");
        }
        finally
        {
            await page.CloseAsync();
        }
    }

    private static void AssertRoundTicks(string[] labels)
    {
        Assert.That(labels, Has.Length.GreaterThanOrEqualTo(2));
        var rx = new Regex(@"^(\d+(?:\.\d{1,3})?) (ns|µs|ms)$");
        Assert.That(labels, Has.All.Match(rx.ToString()));
        var values = labels.Select(l => decimal.Parse(rx.Match(l).Groups[1].Value, CultureInfo.InvariantCulture)).ToArray();
        if (labels.Select(l => rx.Match(l).Groups[2].Value).Distinct().Count() != 1) return;
        decimal step = values[1] - values[0];
        Assert.That(step, Is.GreaterThan(0));
        var mantissa = step;
        while (mantissa >= 10) mantissa /= 10;
        while (mantissa < 1) mantissa *= 10;
        Assert.That(mantissa, Is.AnyOf(1m, 2m, 5m), $"step {step} of {string.Join(", ", labels)}");
        for (int i = 1; i < values.Length; i++) Assert.That(values[i] - values[i - 1], Is.EqualTo(step));
    }

    /// <summary>Client coordinates returned by <c>timeline.locate</c>.</summary>
    public sealed class Point
    {
        /// <summary>Horizontal client coordinate.</summary>
        public float X { get; set; }
        /// <summary>Vertical client coordinate.</summary>
        public float Y { get; set; }
        /// <summary>Width of the slice in pixels.</summary>
        public float Width { get; set; }
    }
}
