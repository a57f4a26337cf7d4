using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Tests.Mmu;

/// <summary>Golden tests of GpuVirtualMemory: every byte checked against a managed reference.</summary>
public class GpuVirtualMemoryTests
{
    private const ulong Base = 0x0000_0010_0000_0000;
    private DeviceMemory _memory = null!;
    private GpuMmu _mmu = null!;
    private PageTableBuilder _tables = null!;

    [SetUp]
    public void SetUp()
    {
        _memory = DeviceMemory.Allocate(8UL << 20, 1UL << 20);
        _mmu = new GpuMmu(_memory);
        _tables = new PageTableBuilder(_memory, MemoryLocation.System, 0x8_0000);
        // Pages 0..3 scattered over both memories, page 4 unmapped (dummy or fault), page 5 mapped again.
        _tables.Map(Base + 0 * 4096, PageTableEntry.Create(MemoryLocation.Local, 0x5000));
        _tables.Map(Base + 1 * 4096, PageTableEntry.Create(MemoryLocation.System, 0x2000));
        _tables.Map(Base + 2 * 4096, PageTableEntry.Create(MemoryLocation.Local, 0x1000));
        _tables.Map(Base + 3 * 4096, PageTableEntry.Create(MemoryLocation.Local, 0x2000));
        _tables.Map(Base + 5 * 4096, PageTableEntry.Create(MemoryLocation.Local, 0x9000));
    }

    [TearDown]
    public void TearDown() => _memory.Dispose();

    private GpuVirtualMemory Vm(bool faultOnInvalid) => new(_mmu, _memory, new Tlb(16), _tables.Space(7, faultOnInvalid), false);

    private static readonly (MemoryLocation Loc, ulong Frame)[] Frames =
        { (MemoryLocation.Local, 0x5000), (MemoryLocation.System, 0x2000), (MemoryLocation.Local, 0x1000), (MemoryLocation.Local, 0x2000) };

    private byte PhysicalByteOfPage(int page, int offset) =>
        _memory.GetSpan(new PhysicalAddress(Frames[page].Loc, Frames[page].Frame + (ulong)offset), 1)[0];

    [Test]
    public void WriteThenRead_AcrossScatteredPages_LandsInEachFrame()
    {
        var vm = Vm(faultOnInvalid: true);
        var data = new byte[3 * 4096 + 50]; // ends inside page 3
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(i * 13 + 1);
        Assert.That(vm.Write(Base + 4000, data, out _), Is.EqualTo(TranslationStatus.Ok));
        for (int i = 0; i < data.Length; i++)
        {
            ulong va = 4000 + (ulong)i;
            Assert.That(PhysicalByteOfPage((int)(va / 4096), (int)(va % 4096)), Is.EqualTo(data[i]), $"byte {i}");
        }
        var back = new byte[data.Length];
        Assert.That(vm.Read(Base + 4000, back, out _), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(back, Is.EqualTo(data));
    }

    [Test]
    public void ReadAcrossADummyPage_ReadsZerosThere_AndWriteIsDiscardedThere()
    {
        var vm = Vm(faultOnInvalid: false);
        var data = new byte[3 * 4096];
        Array.Fill(data, (byte)0x5A);
        Assert.That(vm.Write(Base + 3 * 4096, data, out _), Is.EqualTo(TranslationStatus.Ok));
        var back = new byte[3 * 4096];
        Assert.That(vm.Read(Base + 3 * 4096, back, out _), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(back.AsSpan(0, 4096).ToArray(), Is.All.EqualTo(0x5A));
        Assert.That(back.AsSpan(4096, 4096).ToArray(), Is.All.EqualTo(0), "page 4 is the dummy page");
        Assert.That(back.AsSpan(8192, 4096).ToArray(), Is.All.EqualTo(0x5A));
        Assert.That(vm.Read64(Base + 4 * 4096 + 8, out ulong v, out _), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(v, Is.Zero);
    }

    [Test]
    public void WriteStopsAtTheFault_BytesBeforeItAreWritten_AfterItNever()
    {
        var vm = Vm(faultOnInvalid: true);
        var data = new byte[2 * 4096];
        Array.Fill(data, (byte)0xC3);
        Assert.That(vm.Write(Base + 3 * 4096 + 96, data, out ulong faultVa), Is.EqualTo(TranslationStatus.InvalidAddress));
        Assert.That(faultVa, Is.EqualTo(Base + 4 * 4096));
        Assert.That(PhysicalByteOfPage(3, 4095), Is.EqualTo(0xC3));
        Assert.That(_memory.GetSpan(PhysicalAddress.Local(0x9000), 4096).ToArray(), Is.All.EqualTo(0), "page 5 untouched");
    }

    [Test]
    public void Copy_UnalignedAcrossPageBoundaries_MatchesAReferenceCopy()
    {
        var vm = Vm(faultOnInvalid: true);
        var initial = new byte[4 * 4096];
        for (int i = 0; i < initial.Length; i++) initial[i] = (byte)(i ^ (i >> 8));
        Assert.That(vm.Write(Base, initial, out _), Is.EqualTo(TranslationStatus.Ok));
        ulong srcOff = 5, dstOff = 2 * 4096 + 77, n = 6000;

        Assert.That(vm.Copy(Base + dstOff, Base + srcOff, n, out ulong done, out _), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(done, Is.EqualTo(n));
        var expected = (byte[])initial.Clone();
        Array.Copy(initial, (int)srcOff, expected, (int)dstOff, (int)n);
        var back = new byte[initial.Length];
        Assert.That(vm.Read(Base, back, out _), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(back, Is.EqualTo(expected));
    }

    [Test]
    public void Copy_FromDummyWritesZeros_ToDummyIsDiscarded_AndStopsAtAFault()
    {
        var dummyVm = Vm(faultOnInvalid: false);
        var ones = new byte[4096];
        Array.Fill(ones, (byte)0xFF);
        Assert.That(dummyVm.Write(Base + 3 * 4096, ones, out _), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(dummyVm.Copy(Base + 3 * 4096 + 100, Base + 4 * 4096, 200, out _, out _), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(PhysicalByteOfPage(3, 99), Is.EqualTo(0xFF));
        Assert.That(PhysicalByteOfPage(3, 100), Is.EqualTo(0));
        Assert.That(PhysicalByteOfPage(3, 299), Is.EqualTo(0));
        Assert.That(PhysicalByteOfPage(3, 300), Is.EqualTo(0xFF));
        Assert.That(dummyVm.Copy(Base + 4 * 4096, Base + 3 * 4096, 4096, out ulong done, out _), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(done, Is.EqualTo(4096UL));

        var faultVm = Vm(faultOnInvalid: true);
        Assert.That(faultVm.Copy(Base + 3 * 4096, Base + 0x800, 2 * 4096, out done, out ulong faultVa), Is.EqualTo(TranslationStatus.InvalidAddress));
        Assert.That((done, faultVa), Is.EqualTo((4096UL, Base + 4 * 4096)), "the destination faults at page 4 after one page");
    }

    [TestCase(0UL, 3 * 4096UL)]
    [TestCase(4093UL, 5000UL)]
    [TestCase(1UL, 7UL)]
    public void Fill_PatternPhaseFollowsTheVa_AcrossPages(ulong offset, ulong bytes)
    {
        var vm = Vm(faultOnInvalid: true);
        const uint pattern = 0xA1B2C3D4;
        Assert.That(vm.Fill(Base + offset, pattern, bytes, out ulong done, out _), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(done, Is.EqualTo(bytes));
        var back = new byte[4 * 4096];
        Assert.That(vm.Read(Base, back, out _), Is.EqualTo(TranslationStatus.Ok));
        for (ulong i = 0; i < (ulong)back.Length; i++)
        {
            byte want = i >= offset && i < offset + bytes ? (byte)(pattern >> (int)((i & 3) * 8)) : (byte)0;
            if (back[i] != want) Assert.Fail($"byte {i}: 0x{back[i]:X2}, expected 0x{want:X2}");
        }
    }

    [Test]
    public void Fill_StopsAtAFault_ReportingBytesDone()
    {
        var vm = Vm(faultOnInvalid: true);
        Assert.That(vm.Fill(Base + 3 * 4096 + 16, 0x01020304, 8192, out ulong done, out ulong faultVa), Is.EqualTo(TranslationStatus.InvalidAddress));
        Assert.That((done, faultVa), Is.EqualTo((4096UL - 16, Base + 4 * 4096)));
        Assert.That(PhysicalByteOfPage(3, 16), Is.EqualTo(0x04));
    }
}
