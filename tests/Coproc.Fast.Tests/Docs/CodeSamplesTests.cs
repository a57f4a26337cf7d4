using System.Globalization;
using System.Reflection;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Driver;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Coproc.Fast.Tests.Docs;

/// <summary>
/// Every C# sample in README.md and docs/*.md compiles, as a reader would paste it into a new project: against
/// Coproc.Fast.Device, Coproc.Fast.Driver and the framework, with the SDK's implicit usings and nothing else, so a
/// sample must carry its own <c>using</c> lines. A block marked <c>```csharp fragment</c> is not compiled
/// (docs/README.md, "Conventions").
/// </summary>
public class CodeSamplesTests
{
    /// <summary>The fragment marker: the info-string word that exempts a block.</summary>
    public const string FragmentFlag = "fragment";

    private static readonly string[] CSharpLanguages = ["csharp", "cs", "c#"];

    // The global usings an SDK-style project gets with ImplicitUsings (Microsoft.NET.Sdk).
    private const string ImplicitUsings =
        "global using System; global using System.Collections.Generic; global using System.IO; global using System.Linq; " +
        "global using System.Net.Http; global using System.Threading; global using System.Threading.Tasks;";

    private static IEnumerable<TestCaseData> Samples() =>
        MarkdownCodeBlocks.All()
            .Where(b => CSharpLanguages.Contains(b.Language, StringComparer.OrdinalIgnoreCase) && !b.Flags.Contains(FragmentFlag))
            .Select(b => new TestCaseData(b).SetArgDisplayNames(b.ToString()));

    [Test]
    public void TheReadme_HasAtLeastOneCompiledSample()
    {
        Assert.That(Samples().Count(s => ((MarkdownCodeBlock)s.Arguments[0]!).File == "README.md"), Is.GreaterThanOrEqualTo(1));
    }

    [TestCaseSource(nameof(Samples))]
    public void CSharpSample_CompilesWithoutErrorsOrWarnings(MarkdownCodeBlock block)
    {
        var diagnostics = Compile(block.Code)
            .Where(d => d.Severity is DiagnosticSeverity.Error or DiagnosticSeverity.Warning)
            .Select(d => $"{block.File}:{block.Line + d.Location.GetLineSpan().StartLinePosition.Line + 1}: {d.Id} {d.GetMessage(CultureInfo.InvariantCulture)}")
            .ToList();
        Assert.That(diagnostics, Is.Empty, string.Join("\n", diagnostics));
    }

    [Test]
    public void TheCompiler_RejectsASampleWithoutItsUsings()
    {
        // The check is real: the README's first lines of a machine sample, without "using Coproc.Fast.Driver;".
        var errors = Compile("using var m = new Machine();\nm.RunUntilIdle();").Where(d => d.Severity == DiagnosticSeverity.Error);
        Assert.That(errors.Select(d => d.Id), Does.Contain("CS0246"));
    }

    [Test]
    public void FragmentsAndOtherLanguages_AreNotCompiled()
    {
        var blocks = MarkdownCodeBlocks.Parse("x.md", "```csharp fragment\nnot C#\n```\n```sh\ndotnet test\n```\n```csharp\nint x = 1;\n```\n").ToList();
        Assert.That(blocks.Select(b => (b.Language, b.Flags.Count)), Is.EqualTo(new[] { ("csharp", 1), ("sh", 0), ("csharp", 0) }));
        Assert.That(blocks[0].Flags, Does.Contain(FragmentFlag));
    }

    /// <summary>Compiles one sample (a program with top-level statements, or a library when it has none).</summary>
    public static IReadOnlyList<Diagnostic> Compile(string code)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var sample = CSharpSyntaxTree.ParseText(code, parse, path: "sample.cs");
        bool program = sample.GetCompilationUnitRoot().Members.OfType<GlobalStatementSyntax>().Any();
        var compilation = CSharpCompilation.Create("DocsSample",
            [sample, CSharpSyntaxTree.ParseText(ImplicitUsings, parse, path: "implicit-usings.cs")],
            References.Value,
            new CSharpCompilationOptions(program ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable, allowUnsafe: true));
        using var pe = new MemoryStream();
        return compilation.Emit(pe).Diagnostics;
    }

    // The framework reference assemblies' implementations (the running shared framework), the two libraries and
    // what they reference (so samples may touch types the libraries expose from their dependencies).
    private static readonly Lazy<MetadataReference[]> References = new(() =>
    {
        var trusted = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        string framework = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        Assembly[] libraries = [typeof(Coprocessor).Assembly, typeof(Machine).Assembly, typeof(Coproc.Fast.Scenarios.ScenarioLoader).Assembly];
        var dependencyNames = libraries.SelectMany(a => a.GetReferencedAssemblies()).Select(n => n.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        return trusted
            .Where(p => Path.GetDirectoryName(p) == framework || dependencyNames.Contains(Path.GetFileNameWithoutExtension(p)))
            .Concat(libraries.Select(a => a.Location))
            .Distinct(StringComparer.Ordinal)
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToArray();
    });
}
