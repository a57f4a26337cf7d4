using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Tests.Docs;

namespace Coproc.Fast.Tests.Embedding;

/// <summary>
/// The device's public surface is the host façade, the options and the documented constants — the table in
/// docs/embedding.md ("What is public, and who calls it"), native-layout.md §20.9 — and the driver and the scenario
/// library reach the device only through it (ARCHITECTURE: the driver talks to the device only through the hardware
/// interface).
/// </summary>
public partial class PublicSurfaceTests
{
    private const string DevicePrefix = "Coproc.Fast.Device.";
    private const string SectionHeading = "## What is public, and who calls it";

    private static readonly Assembly Device = typeof(Coprocessor).Assembly;

    /// <summary>The types the table of docs/embedding.md lists, as "Namespace.Type" relative to Coproc.Fast.Device.</summary>
    private static HashSet<string> DocumentedTypes()
    {
        string doc = File.ReadAllText(Path.Combine(MarkdownCodeBlocks.RepositoryRoot, "docs", "embedding.md"));
        int at = doc.IndexOf(SectionHeading, StringComparison.Ordinal);
        Assert.That(at, Is.GreaterThanOrEqualTo(0), $"docs/embedding.md has no section \"{SectionHeading}\"");
        int end = doc.IndexOf("\n## ", at + SectionHeading.Length, StringComparison.Ordinal);
        string section = end < 0 ? doc[at..] : doc[at..end];
        var types = new HashSet<string>(StringComparer.Ordinal);
        foreach (string row in section.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal)))
        {
            string[] cells = row.Split('|');
            if (cells.Length < 3) continue;
            foreach (Match m in QualifiedName().Matches(cells[2])) types.Add(m.Groups[1].Value);
        }
        return types;
    }

    // A backticked name with at least one namespace part: `Core.Coprocessor`, `Engines.Work.Surface`.
    [GeneratedRegex(@"`((?:[A-Z][A-Za-z0-9]*\.)+[A-Z][A-Za-z0-9]*)`")]
    private static partial Regex QualifiedName();

    private static string Relative(string fullName) => fullName[DevicePrefix.Length..].Replace('+', '.');

    [Test]
    public void GivenTheDeviceAssembly_WhenItsPublicTypesAreListed_ThenTheyAreExactlyTheDocumentedSurface()
    {
        var documented = DocumentedTypes();
        var exported = Device.GetExportedTypes().Select(t => Relative(t.FullName!)).ToHashSet(StringComparer.Ordinal);

        Assert.Multiple(() =>
        {
            Assert.That(exported.Except(documented).Order(), Is.Empty,
                "public types that docs/embedding.md does not list: make them internal, or document who calls them");
            Assert.That(documented.Except(exported).Order(), Is.Empty,
                "types docs/embedding.md lists as public that are not (or do not exist)");
        });
    }

    [Test]
    public void GivenTheSurfaceTable_WhenParsed_ThenItNamesTheFacadeAndTheRegisterConstants()
    {
        // The check above is real: the table is found and parsed (an empty table would make it vacuous).
        var documented = DocumentedTypes();
        Assert.That(documented, Does.Contain("Core.Coprocessor").And.Contain("Bus.CoprocBusDevice").And.Contain("Interrupts.InterruptRegisters"));
        Assert.That(documented, Does.Not.Contain("Engines.CommandProcessor").And.Not.Contain("Mmu.GpuMmu").And.Not.Contain("Scheduling.SchedulingCore"));
    }

    [Test]
    public void GivenTheDeviceAssembly_WhenItsFriendsAreListed_ThenNeitherTheDriverNorTheScenariosSeeInternals()
    {
        var friends = Device.GetCustomAttributes<InternalsVisibleToAttribute>().Select(a => a.AssemblyName).Order().ToArray();
        // Tests and measurement tools only (docs/embedding.md): the benchmarks and the fuzz harness; `coproc bench` uses the
        // public surface like any client.
        Assert.That(friends, Is.EqualTo(new[] { "coproc-fuzz", "Coproc.Fast.Benchmarks", "Coproc.Fast.Tests" }.Order().ToArray()));
    }

    private static IEnumerable<TestCaseData> Clients()
    {
        yield return new TestCaseData(typeof(Coproc.Fast.Driver.Machine).Assembly).SetArgDisplayNames("Coproc.Fast.Driver");
        yield return new TestCaseData(typeof(IScenarioRunner).Assembly).SetArgDisplayNames("Coproc.Fast.Scenarios");
        yield return new TestCaseData(Assembly.Load("Coproc.SampleHost")).SetArgDisplayNames("Coproc.SampleHost");
    }

    [TestCaseSource(nameof(Clients))]
    public void GivenAClientAssembly_WhenItsReferencesIntoTheDeviceAreRead_ThenEveryTypeAndMemberIsOnTheDocumentedSurface(Assembly client)
    {
        var documented = DocumentedTypes();
        var (types, members) = DeviceReferences(client);
        Assert.That(types, Is.Not.Empty, "the scan found no device reference at all");

        var violations = new List<string>();
        foreach (string type in types)
        {
            if (!documented.Contains(Relative(type))) violations.Add($"type {type} is not on the documented surface");
        }
        foreach (var (type, member) in members)
        {
            var t = Device.GetType(type);
            if (t is null || !t.IsVisible) continue; // reported above
            const BindingFlags Public = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static;
            bool isPublic = member == ".ctor"
                ? t.GetConstructors(BindingFlags.Public | BindingFlags.Instance).Length > 0
                : t.GetMember(member, Public).Length > 0
                  || t.GetProperties(Public).Any(p => p.GetMethod?.Name == member || p.SetMethod?.Name == member);
            if (!isPublic) violations.Add($"member {type}.{member} is not public");
        }
        Assert.That(violations, Is.Empty);
        Assert.That(InternalDeviceUses(client), Is.Empty, "no field, signature, local or IL token names a device internal");
    }

    [Test]
    public void GivenTheCli_WhenItsCodeIsScanned_ThenNothingInItReachesADeviceInternal()
    {
        // coproc bench measures the device through its public surface (the aperture BAR for TLB hits, WORK_PENDING and Step
        // for the ring-3 device thread); device internals are timed in perf/ only.
        var cli = Assembly.Load("coproc");
        // The scan is real: it finds the tests' own uses of internals (a field type and a method body's call).
        Assert.That(InternalDeviceUses(typeof(PublicSurfaceTests).Assembly).Select(u => u.What),
            Has.Some.StartsWith("Coproc.Fast.Device.Core.Coprocessor.get_DoorbellBlock"));
        Assert.That(InternalDeviceUses(cli).Select(u => $"{u.User} uses {u.What}"), Is.Empty);
    }

    private static IEnumerable<TestCaseData> DriverSideAssemblies()
    {
        yield return new TestCaseData(typeof(Coproc.Fast.Driver.Machine).Assembly).SetArgDisplayNames("Coproc.Fast.Driver");
        yield return new TestCaseData(typeof(IScenarioRunner).Assembly).SetArgDisplayNames("Coproc.Fast.Scenarios");
    }

    // The driver's bus implementations: the only driver types that may hold the device's register file (IDeviceBus).
    private static readonly HashSet<string> BusImplementations = new(StringComparer.Ordinal)
    {
        typeof(Coproc.Fast.Driver.DirectDeviceBus).FullName!, "Coproc.Fast.Driver.PostedDeviceBus",
    };

    [TestCaseSource(nameof(DriverSideAssemblies))]
    public void GivenADriverSideAssembly_WhenItsCodeIsScanned_ThenOnlyTheBusImplementationsTouchTheRegisterFile(Assembly assembly)
    {
        // docs/embedding.md "How the driver reaches the device": every register access goes through IDeviceBus, whose
        // ordering rule (posted writes, reads that do not pass them) holds only if nothing else reaches MmioRegisterFile.
        var uses = RegisterFileUses(assembly);
        Assert.That(uses.Where(u => !BusImplementations.Contains(u.User)).Select(u => $"{u.User} uses {u.What}"), Is.Empty,
            "reach registers through IDeviceBus (Machine.Bus, VideoMemoryManager.Bus), not Coprocessor.Mmio");
        if (assembly == typeof(Coproc.Fast.Driver.Machine).Assembly)
            Assert.That(uses.Select(u => u.User).Distinct().Order(), Is.EqualTo(BusImplementations.Order()),
                "the scan is real: it finds both bus implementations' uses");
    }

    [Test]
    public void GivenATypeThatReadsTheRegisterFileDirectly_WhenScanned_ThenTheUseIsReported()
    {
        // The rule's scan catches a reintroduced direct use: the tests' own register-file bus (a field of type
        // MmioRegisterFile and calls of Read32/Write64 on it) is found, attributed to its outermost type.
        var uses = RegisterFileUses(typeof(PublicSurfaceTests).Assembly);
        Assert.That(uses.Where(u => u.User == typeof(VidMm.MmuRegisterProgrammingTests).FullName).Select(u => u.What),
            Has.Some.StartsWith("Coproc.Fast.Device.Mmio.MmioRegisterFile.Read32"));
        Assert.That(uses.Select(u => u.What), Has.Some.StartsWith("Coproc.Fast.Device.Core.Coprocessor.get_Mmio"));
    }

    /// <summary>Every place in <paramref name="assembly"/> that names <c>MmioRegisterFile</c> (type or member) or <c>Coprocessor.Mmio</c>.</summary>
    private static List<(string User, string What)> RegisterFileUses(Assembly assembly)
    {
        var registerFile = typeof(Coproc.Fast.Device.Mmio.MmioRegisterFile);
        var getMmio = typeof(Coprocessor).GetProperty(nameof(Coprocessor.Mmio))!.GetMethod!;
        return DeviceUses(assembly,
            t => t == registerFile,
            m => m.DeclaringType == registerFile || (m is MethodInfo mi && mi == getMmio));
    }

    private const BindingFlags Everything = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    // IL opcodes by value, to walk method bodies for the tokens they name.
    private static readonly Dictionary<short, System.Reflection.Emit.OpCode> OpCodesByValue =
        typeof(System.Reflection.Emit.OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(f => (System.Reflection.Emit.OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

    /// <summary>
    /// Every place in <paramref name="assembly"/> that names a device type or member that is not public: field, parameter,
    /// return and local types, and the tokens of method bodies. The user is the outermost declaring type (a lambda's
    /// closure counts as the type that wrote it).
    /// </summary>
    private static List<(string User, string What)> InternalDeviceUses(Assembly assembly) =>
        DeviceUses(assembly, t => t.Assembly == Device && !t.IsVisible, member => member switch
        {
            MethodBase mb => !mb.IsPublic,
            FieldInfo fi => !fi.IsPublic,
            _ => false,
        });

    /// <summary>
    /// Every place in <paramref name="assembly"/> that names a device type <paramref name="flagType"/> accepts (field,
    /// parameter, return and local types, and the tokens of method bodies) or a device member <paramref name="flagMember"/>
    /// accepts (tokens of method bodies). The user is the outermost declaring type (a lambda's closure counts as the type
    /// that wrote it).
    /// </summary>
    private static List<(string User, string What)> DeviceUses(Assembly assembly, Func<Type, bool> flagType, Func<MemberInfo, bool> flagMember)
    {
        var found = new List<(string, string)>();
        bool Hidden(Type? t) => t is not null && flagType(t);
        static Type Outermost(Type t) { while (t.DeclaringType is { } d) t = d; return t; }

        foreach (var type in assembly.GetTypes())
        {
            string user = Outermost(type).FullName!;
            void Check(Type? t, string where)
            {
                if (t is null) return;
                if (t.HasElementType) { Check(t.GetElementType(), where); return; }
                if (t.IsGenericType) foreach (var a in t.GetGenericArguments()) Check(a, where);
                if (Hidden(t)) found.Add((user, $"{t.FullName} ({where})"));
            }
            foreach (var f in type.GetFields(Everything)) Check(f.FieldType, $"field {f.Name}");
            foreach (var m in type.GetMethods(Everything).Cast<MethodBase>().Concat(type.GetConstructors(Everything)))
            {
                if (m is MethodInfo mi) Check(mi.ReturnType, $"{m.Name} return");
                foreach (var p in m.GetParameters()) Check(p.ParameterType, $"{m.Name} parameter");
                var body = m.GetMethodBody();
                if (body is null) continue;
                foreach (var l in body.LocalVariables) Check(l.LocalType, $"{m.Name} local");
                byte[] il = body.GetILAsByteArray() ?? [];
                for (int i = 0; i < il.Length;)
                {
                    short value = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
                    i += il[i] == 0xFE ? 2 : 1;
                    var op = OpCodesByValue[value];
                    int size = op.OperandType switch
                    {
                        System.Reflection.Emit.OperandType.InlineNone => 0,
                        System.Reflection.Emit.OperandType.ShortInlineBrTarget or System.Reflection.Emit.OperandType.ShortInlineI or System.Reflection.Emit.OperandType.ShortInlineVar => 1,
                        System.Reflection.Emit.OperandType.InlineVar => 2,
                        System.Reflection.Emit.OperandType.InlineI8 or System.Reflection.Emit.OperandType.InlineR => 8,
                        System.Reflection.Emit.OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, i),
                        _ => 4,
                    };
                    if (op.OperandType is System.Reflection.Emit.OperandType.InlineMethod or System.Reflection.Emit.OperandType.InlineField
                        or System.Reflection.Emit.OperandType.InlineType or System.Reflection.Emit.OperandType.InlineTok)
                    {
                        MemberInfo? member = null;
                        try
                        {
                            member = m.Module.ResolveMember(BitConverter.ToInt32(il, i),
                                type.IsGenericType ? type.GetGenericArguments() : null,
                                m.IsGenericMethod ? m.GetGenericArguments() : null);
                        }
                        catch (ArgumentException) { } // a generic context the scan does not model: not a device member
                        if (member is Type t) Check(t, $"{m.Name} body");
                        else if (member is not null && member.DeclaringType?.Assembly == Device)
                        {
                            Check(member.DeclaringType, $"{m.Name} body");
                            if (flagMember(member)) found.Add((user, $"{member.DeclaringType!.FullName}.{member.Name} ({m.Name} body)"));
                        }
                    }
                    i += size;
                }
            }
        }
        return found;
    }

    /// <summary>
    /// Reads <paramref name="client"/>'s metadata: every type reference whose scope is the device assembly (nested types
    /// as Outer+Inner), and every member reference on one of them (methods, fields, property accessors, constructors).
    /// </summary>
    private static (SortedSet<string> Types, SortedSet<(string Type, string Member)> Members) DeviceReferences(Assembly client)
    {
        using var stream = File.OpenRead(client.Location);
        using var pe = new PEReader(stream);
        var md = pe.GetMetadataReader();
        var types = new SortedSet<string>(StringComparer.Ordinal);
        var members = new SortedSet<(string, string)>();

        string? DeviceTypeName(TypeReferenceHandle handle)
        {
            var r = md.GetTypeReference(handle);
            string name = md.GetString(r.Name);
            if (r.ResolutionScope.Kind == HandleKind.TypeReference)
                return DeviceTypeName((TypeReferenceHandle)r.ResolutionScope) is { } outer ? outer + "+" + name : null;
            if (r.ResolutionScope.Kind != HandleKind.AssemblyReference) return null;
            var asm = md.GetAssemblyReference((AssemblyReferenceHandle)r.ResolutionScope);
            if (md.GetString(asm.Name) != "Coproc.Fast.Device") return null;
            return md.GetString(r.Namespace) + "." + name;
        }

        foreach (var handle in md.TypeReferences)
            if (DeviceTypeName(handle) is { } t) types.Add(t);

        foreach (var handle in md.MemberReferences)
        {
            var m = md.GetMemberReference(handle);
            string? owner = m.Parent.Kind switch
            {
                HandleKind.TypeReference => DeviceTypeName((TypeReferenceHandle)m.Parent),
                HandleKind.TypeSpecification => null, // generic instantiations: the device exports no generic types
                _ => null,
            };
            if (owner is not null) members.Add((owner, md.GetString(m.Name)));
        }
        return (types, members);
    }
}
