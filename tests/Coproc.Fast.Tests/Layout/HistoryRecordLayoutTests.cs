using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.RunLists;

namespace Coproc.Fast.Tests.Layout;

/// <summary>The 64-byte history-buffer record checked against native-layout.md §10.6 (seed 001 §6.5, Fig. 19).</summary>
public class HistoryRecordLayoutTests
{
    private static int Off(string field) => Marshal.OffsetOf<HistoryRecord>(field).ToInt32();

    [Test]
    public void HistoryRecord_Is64Bytes_WithDocumentedOffsets()
    {
        Assert.That(Unsafe.SizeOf<HistoryRecord>(), Is.EqualTo(64));
        Assert.That(HistoryRecord.SizeInBytes, Is.EqualTo(64));
        Assert.That(Off(nameof(HistoryRecord.Sequence)), Is.EqualTo(0));
        Assert.That(Off(nameof(HistoryRecord.FromSaveArea)), Is.EqualTo(8));
        Assert.That(Off(nameof(HistoryRecord.ToSaveArea)), Is.EqualTo(16));
        Assert.That(Off(nameof(HistoryRecord.FromContextId)), Is.EqualTo(24));
        Assert.That(Off(nameof(HistoryRecord.ToContextId)), Is.EqualTo(28));
        Assert.That(Off(nameof(HistoryRecord.Reason)), Is.EqualTo(32));
        Assert.That(Off(nameof(HistoryRecord.Engine)), Is.EqualTo(36));
        Assert.That(Off(nameof(HistoryRecord.ToIndex)), Is.EqualTo(37));
        Assert.That(Off(nameof(HistoryRecord.ListSerial)), Is.EqualTo(40));
        Assert.That(Off(nameof(HistoryRecord.Cycle)), Is.EqualTo(48));
        Assert.That(Off(nameof(HistoryRecord.FaultAddress)), Is.EqualTo(56));
    }

    [Test]
    public void HistoryRecord_GivenFields_WhenViewedAsBytes_ThenEachLandsAtItsDocumentedLittleEndianOffset()
    {
        var r = new HistoryRecord
        {
            Sequence = 0x1122_3344_5566_7788, FromSaveArea = 0x0101_0000, ToSaveArea = 0x0202_0000,
            FromContextId = 0xA1A2_A3A4, ToContextId = 0xB1B2_B3B4, Reason = SwitchReason.NewRunList,
            Engine = 3, ToIndex = HistoryRecord.NoIndex, ListSerial = 0x0007_0006, Cycle = 0xC0C1_C2C3_C4C5_C6C7,
            FaultAddress = 0xFAFB_FCFD,
        };
        ReadOnlySpan<byte> b = MemoryMarshal.AsBytes(MemoryMarshal.CreateReadOnlySpan(ref r, 1));
        Assert.That(b.Length, Is.EqualTo(64));
        Assert.That(BitConverter.ToUInt64(b[0..8]), Is.EqualTo(0x1122_3344_5566_7788UL));
        Assert.That(BitConverter.ToUInt64(b[8..16]), Is.EqualTo(0x0101_0000UL));
        Assert.That(BitConverter.ToUInt64(b[16..24]), Is.EqualTo(0x0202_0000UL));
        Assert.That(BitConverter.ToUInt32(b[24..28]), Is.EqualTo(0xA1A2_A3A4u));
        Assert.That(BitConverter.ToUInt32(b[28..32]), Is.EqualTo(0xB1B2_B3B4u));
        Assert.That(BitConverter.ToUInt32(b[32..36]), Is.EqualTo((uint)SwitchReason.NewRunList));
        Assert.That((b[36], b[37]), Is.EqualTo(((byte)3, (byte)0xFF)));
        Assert.That(BitConverter.ToUInt16(b[38..40]), Is.Zero, "reserved");
        Assert.That(BitConverter.ToUInt32(b[40..44]), Is.EqualTo(0x0007_0006u));
        Assert.That(BitConverter.ToUInt32(b[44..48]), Is.Zero, "reserved");
        Assert.That(BitConverter.ToUInt64(b[48..56]), Is.EqualTo(0xC0C1_C2C3_C4C5_C6C7UL));
        Assert.That(BitConverter.ToUInt64(b[56..64]), Is.EqualTo(0xFAFB_FCFDUL));
    }
}
