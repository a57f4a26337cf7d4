using System.Reflection;
using System.Text.RegularExpressions;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Packaging;

/// <summary>The version is set in one place (git tags through MinVer) and everything that shows one agrees.</summary>
public class VersionTests
{
    private static string Informational(Assembly a) =>
        a.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];

    [Test]
    public void TheLibraries_CarryTheSameSemanticVersion()
    {
        string device = Informational(typeof(Coprocessor).Assembly), driver = Informational(typeof(CoprocMetrics).Assembly);
        Assert.That(driver, Is.EqualTo(device));
        Assert.That(Regex.IsMatch(driver, @"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$"), Is.True, driver);
    }

    [Test]
    public void TheMeter_ReportsTheLibraryVersion()
    {
        Assert.That(CoprocMetrics.Meter.Version, Is.EqualTo(Informational(typeof(CoprocMetrics).Assembly)));
    }
}
