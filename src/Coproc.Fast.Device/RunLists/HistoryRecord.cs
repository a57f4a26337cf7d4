using System.Runtime.InteropServices;
using Coproc.Fast.Device.Contexts;

namespace Coproc.Fast.Device.RunLists;

/// <summary>
/// One context-switch record of the history buffer (native-layout.md §10.6; seed 001 §6.5, Fig. 19): 64 bytes, written
/// whole by the device before it advances HB_WRPTR.
/// <code>
/// +0  u64 Sequence        1-based number of the record (= HB_WRPTR after it was written)
/// +8  u64 FromSaveArea    save area switched away from (0 = the engine was idle)
/// +16 u64 ToSaveArea      save area switched to (0 = the engine goes idle)
/// +24 u32 FromContextId
/// +28 u32 ToContextId
/// +32 u32 Reason          SwitchReason: why the engine left FromSaveArea (NewRunList for a list change, X→X included)
/// +36 u8  Engine
/// +37 u8  ToIndex         entry of the current run list switched to; 0xFF = not a run-list entry
/// +38 u16 Reserved
/// +40 u32 ListSerial      serial of the run list the engine runs after the switch (RL_SERIAL); 0 = none
/// +44 u32 Reserved
/// +48 u64 Cycle           device cycle of the switch
/// +56 u64 FaultAddress    faulting VA/PA for fault reasons, else 0
/// </code>
/// </summary>
/// <remarks>Called by: guest driver (structures it lays out in memory for the device); see docs/embedding.md, "What is public, and who calls it".</remarks>
[StructLayout(LayoutKind.Explicit, Size = SizeInBytes)]
public struct HistoryRecord
{
    /// <summary>Size in bytes.</summary>
    public const int SizeInBytes = 64;
    /// <summary><see cref="ToIndex"/> value for a target that is not an entry of the current run list.</summary>
    public const byte NoIndex = 0xFF;

    /// <summary>1-based record number.</summary>
    [FieldOffset(0)] public ulong Sequence;
    /// <summary>Save area switched away from (0 = idle).</summary>
    [FieldOffset(8)] public ulong FromSaveArea;
    /// <summary>Save area switched to (0 = idle).</summary>
    [FieldOffset(16)] public ulong ToSaveArea;
    /// <summary>Context id of <see cref="FromSaveArea"/>.</summary>
    [FieldOffset(24)] public uint FromContextId;
    /// <summary>Context id of <see cref="ToSaveArea"/>.</summary>
    [FieldOffset(28)] public uint ToContextId;
    /// <summary>Why the engine switched.</summary>
    [FieldOffset(32)] public SwitchReason Reason;
    /// <summary>The engine.</summary>
    [FieldOffset(36)] public byte Engine;
    /// <summary>Index of the target in the current run list, <see cref="NoIndex"/> when none.</summary>
    [FieldOffset(37)] public byte ToIndex;
    /// <summary>Reserved, zero.</summary>
    [FieldOffset(38)] public ushort Reserved0;
    /// <summary>Serial of the run list running after the switch (0 = none).</summary>
    [FieldOffset(40)] public uint ListSerial;
    /// <summary>Reserved, zero.</summary>
    [FieldOffset(44)] public uint Reserved1;
    /// <summary>Device cycle of the switch.</summary>
    [FieldOffset(48)] public ulong Cycle;
    /// <summary>Faulting address for fault reasons, else 0.</summary>
    [FieldOffset(56)] public ulong FaultAddress;

    /// <inheritdoc />
    public override readonly string ToString() =>
        $"#{Sequence} engine {Engine} {Reason}: ctx {FromContextId} -> ctx {ToContextId} (entry {ToIndex}, list {ListSerial}) at {Cycle}";
}
