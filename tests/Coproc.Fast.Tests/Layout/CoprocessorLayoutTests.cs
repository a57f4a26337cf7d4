using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Contexts;

namespace Coproc.Fast.Tests.Layout;

/// <summary>Context save area and fault record layouts (native-layout.md §11).</summary>
public class CoprocessorLayoutTests
{
    private static int Off<T>(string field) => Marshal.OffsetOf<T>(field).ToInt32();

    [Test]
    public void ContextSaveArea_Is256Bytes_WithDocumentedOffsets()
    {
        Assert.That(Unsafe.SizeOf<ContextSaveArea>(), Is.EqualTo(256));
        Assert.That(Off<ContextSaveArea>(nameof(ContextSaveArea.RingDescriptor)), Is.EqualTo(0));
        Assert.That(Off<ContextSaveArea>(nameof(ContextSaveArea.ContextId)), Is.EqualTo(8));
        Assert.That(Off<ContextSaveArea>(nameof(ContextSaveArea.Flags)), Is.EqualTo(12));
        Assert.That(Off<ContextSaveArea>(nameof(ContextSaveArea.AddressSpace)), Is.EqualTo(16));
        Assert.That(Off<ContextSaveArea>(nameof(ContextSaveArea.RingPosition)), Is.EqualTo(48));
        Assert.That(Off<ContextSaveArea>(nameof(ContextSaveArea.IndirectAddress)), Is.EqualTo(56));
        Assert.That(Off<ContextSaveArea>(nameof(ContextSaveArea.IndirectLength)), Is.EqualTo(64));
        Assert.That(Off<ContextSaveArea>(nameof(ContextSaveArea.IndirectOffset)), Is.EqualTo(68));
        Assert.That(Off<ContextSaveArea>(nameof(ContextSaveArea.CyclesRun)), Is.EqualTo(72));
        Assert.That(Off<ContextSaveArea>(nameof(ContextSaveArea.LastSwitchReason)), Is.EqualTo(80));
        Assert.That(Off<ContextSaveArea>(nameof(ContextSaveArea.LoadCount)), Is.EqualTo(84));
        Assert.That(Off<ContextSaveArea>(nameof(ContextSaveArea.SchedulingPriority)), Is.EqualTo(88));
        Assert.That(Off<ContextSaveArea>(nameof(ContextSaveArea.Preemptions)), Is.EqualTo(92));
        Assert.That(Off<ContextSaveArea>(nameof(ContextSaveArea.Work)), Is.EqualTo(96));
        Assert.That(Off<ContextSaveArea>(nameof(ContextSaveArea.Fault)), Is.EqualTo(128));
        Assert.That((uint)ContextFlags.InIndirect | (uint)ContextFlags.ContextSwitchDisabled | (uint)ContextFlags.Faulted |
                    (uint)ContextFlags.Waiting | (uint)ContextFlags.Empty, Is.EqualTo(0x1Fu));
    }

    [Test]
    public void FaultRecord_Is32Bytes_WithDocumentedOffsets()
    {
        Assert.That(Unsafe.SizeOf<FaultRecord>(), Is.EqualTo(32));
        Assert.That(Off<FaultRecord>(nameof(FaultRecord.Reason)), Is.EqualTo(0));
        Assert.That(Off<FaultRecord>(nameof(FaultRecord.Detail)), Is.EqualTo(2));
        Assert.That(Off<FaultRecord>(nameof(FaultRecord.Opcode)), Is.EqualTo(4));
        Assert.That(Off<FaultRecord>(nameof(FaultRecord.Engine)), Is.EqualTo(5));
        Assert.That(Off<FaultRecord>(nameof(FaultRecord.Where)), Is.EqualTo(6));
        Assert.That(Off<FaultRecord>(nameof(FaultRecord.Offset)), Is.EqualTo(8));
        Assert.That(Off<FaultRecord>(nameof(FaultRecord.Address)), Is.EqualTo(16));
        Assert.That(Off<FaultRecord>(nameof(FaultRecord.BufferAddress)), Is.EqualTo(24));
    }
}
