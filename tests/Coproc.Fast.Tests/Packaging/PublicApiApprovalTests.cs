using System.Reflection;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Driver;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Tests.Docs;
using PublicApiGenerator;

namespace Coproc.Fast.Tests.Packaging;

/// <summary>
/// The public API of each library is approved text: <c>api/&lt;Assembly&gt;.txt</c> at the repository root holds it
/// as PublicApiGenerator writes it, and a change to the API — intended or not — fails here until the file is updated
/// in the same commit (docs/README.md, "Public API").
/// </summary>
public class PublicApiApprovalTests
{
    public static IEnumerable<TestCaseData> Libraries()
    {
        yield return new TestCaseData(typeof(Coprocessor).Assembly).SetArgDisplayNames("Coproc.Fast.Device");
        yield return new TestCaseData(typeof(Machine).Assembly).SetArgDisplayNames("Coproc.Fast.Driver");
        yield return new TestCaseData(typeof(Scenario).Assembly).SetArgDisplayNames("Coproc.Fast.Scenarios");
    }

    // Attributes that vary with the clone or the build, not with the API: the git remote's URL (source link) and
    // the version and commit (MinVer) would otherwise make the text differ between machines.
    private static readonly ApiGeneratorOptions Options = new()
    {
        ExcludeAttributes =
        [
            "System.Reflection.AssemblyMetadataAttribute",
            "System.Reflection.AssemblyInformationalVersionAttribute",
            "System.Reflection.AssemblyFileVersionAttribute",
        ],
    };

    /// <summary>The API text with '\n' line ends and one final newline, so the file compares equal on every OS.</summary>
    internal static string PublicApiOf(Assembly assembly) =>
        assembly.GeneratePublicApi(Options).ReplaceLineEndings("\n").TrimEnd('\n') + "\n";

    [TestCaseSource(nameof(Libraries))]
    public void GivenALibrary_WhenItsPublicApiIsGenerated_ThenItEqualsTheApprovedFile(Assembly assembly)
    {
        string name = assembly.GetName().Name!;
        string approvedPath = Path.Combine(MarkdownCodeBlocks.RepositoryRoot, "api", name + ".txt");
        string receivedPath = Path.Combine(MarkdownCodeBlocks.RepositoryRoot, "api", name + ".received.txt");
        string received = PublicApiOf(assembly);
        string? approved = File.Exists(approvedPath) ? File.ReadAllText(approvedPath).ReplaceLineEndings("\n") : null;

        if (approved == received)
        {
            File.Delete(receivedPath); // a stale one from an earlier failing run
            return;
        }

        File.WriteAllText(receivedPath, received);
        Assert.Fail(
            (approved is null ? $"No approved public API for {name} (api/{name}.txt is missing).\n"
                              : $"The public API of {name} differs from api/{name}.txt.\n") +
            $"The generated API is in api/{name}.received.txt; compare them (e.g. `git diff --no-index api/{name}.txt " +
            $"api/{name}.received.txt`). If the change is intended, accept it by copying the received file over the " +
            $"approved one — `mv api/{name}.received.txt api/{name}.txt` — and commit it with the change.");
    }
}
