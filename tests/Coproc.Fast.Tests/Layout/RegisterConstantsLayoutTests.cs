using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Display;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.RunLists;
using Coproc.Fast.Tests.Docs;

namespace Coproc.Fast.Tests.Layout;

/// <summary>
/// The public register-constants types (one per MMIO block, native-layout.md §6) against the register tables of
/// native-layout.md: every register row of a block's table has a constant of the same name and offset.
/// </summary>
public partial class RegisterConstantsLayoutTests
{
    [GeneratedRegex(@"^\|\s*(0x[0-9A-Fa-f]+)\s*\|\s*[A-Z0-9]+\s*\|\s*`?([A-Z][A-Z0-9_]+)`?")]
    private static partial Regex RegisterRow();

    // The offset → register name rows of the first table after the heading that starts with `heading`.
    private static Dictionary<string, uint> DocumentedRegisters(string heading)
    {
        var lines = File.ReadAllLines(Path.Combine(MarkdownCodeBlocks.RepositoryRoot, "native-layout.md"));
        int i = Array.FindIndex(lines, l => l.StartsWith(heading, StringComparison.Ordinal));
        Assert.That(i, Is.GreaterThanOrEqualTo(0), $"heading {heading} in native-layout.md");
        while (!lines[i].StartsWith('|')) i++;
        var rows = new Dictionary<string, uint>();
        for (; i < lines.Length && lines[i].StartsWith('|'); i++)
        {
            var m = RegisterRow().Match(lines[i]);
            if (m.Success) rows[m.Groups[2].Value] = Convert.ToUInt32(m.Groups[1].Value, 16);
        }
        Assert.That(rows, Is.Not.Empty, heading);
        return rows;
    }

    // PascalCase constant name → the document's UPPER_SNAKE register name (InfoData0 → INFO_DATA0).
    private static string DocumentName(string constant)
    {
        var sb = new StringBuilder();
        for (int k = 0; k < constant.Length; k++)
        {
            if (k > 0 && char.IsUpper(constant[k])) sb.Append('_');
            sb.Append(char.ToUpperInvariant(constant[k]));
        }
        return sb.ToString();
    }

    private static Dictionary<string, uint> Constants(Type type) =>
        type.GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.FieldType == typeof(uint))
            .ToDictionary(f => DocumentName(f.Name), f => (uint)f.GetRawConstantValue()!);

    [TestCase(typeof(DeviceRegisters), "### 6.1 ")]
    [TestCase(typeof(InterruptRegisters), "### 9.1 ")]
    [TestCase(typeof(MmuRegisters), "### 7.1 ")]
    [TestCase(typeof(EngineRegisters), "### 10.1 ")]
    [TestCase(typeof(DisplayRegisters), "## 12. ")]
    public void GivenABlocksRegisterTable_WhenComparedWithItsConstantsType_ThenEveryRegisterHasAConstantAtItsOffset(Type type, string heading)
    {
        var documented = DocumentedRegisters(heading);
        var constants = Constants(type);
        Assert.Multiple(() =>
        {
            foreach (var (name, offset) in documented)
            {
                Assert.That(constants.ContainsKey(name), $"{type.Name} has no constant for {name}");
                if (constants.TryGetValue(name, out uint value)) Assert.That(value, Is.EqualTo(offset), $"{type.Name}: {name}");
            }
        });
    }

    [Test]
    public void GivenTheDoorbellAndRunListBlocks_WhenTheirConstantsAreRead_ThenTheBlockBasesAreTheDocumentedOnes()
    {
        Assert.That(Device.Mmio.MmioMap.DoorbellBase, Is.EqualTo(0xA00u));
        Assert.That(Device.Mmio.MmioMap.RunListBase, Is.EqualTo(0x800u));
        Assert.That(DoorbellRegisters.SaveArea, Is.EqualTo(0x70u));
        Assert.That(RunListRegisters.EngineStride, Is.EqualTo(0x20u));
        Assert.That(EngineRegisters.At(EngineKind.Copy, EngineRegisters.NextContext), Is.EqualTo(0x400u + 2 * 0x80 + 0x10));
    }
}
