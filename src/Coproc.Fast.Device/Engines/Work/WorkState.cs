using System.Runtime.InteropServices;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Device.Engines.Work;

/// <summary>
/// Mid-packet progress of a long packet (DRAW_RECTS, DISPATCH, VIDEO_*; also COPY/FILL), saved verbatim in the
/// context save area so an interrupted packet resumes exactly where it stopped (seed 001 §4.1 "mid-triangle").
/// 32 bytes; all zero = not started. Meaning of the fields is per opcode (native-layout.md §8).
/// </summary>
/// <remarks>Called by: guest driver (structures it lays out in memory for the device); see docs/embedding.md, "What is public, and who calls it".</remarks>
[StructLayout(LayoutKind.Explicit, Size = 32)]
public struct WorkState
{
    /// <summary>Primary progress index (e.g. next primitive, next thread group, next input byte).</summary>
    [FieldOffset(0)] public uint Step;
    /// <summary>Secondary progress index (e.g. output position).</summary>
    [FieldOffset(4)] public uint SubStep;
    /// <summary>Scratch value 0 (e.g. running reduction or checksum).</summary>
    [FieldOffset(8)] public ulong Scratch0;
    /// <summary>Scratch value 1.</summary>
    [FieldOffset(16)] public ulong Scratch1;
    /// <summary>Scratch value 2.</summary>
    [FieldOffset(24)] public ulong Scratch2;
}

/// <summary>Result of running (part of) a long packet.</summary>
internal enum WorkStatus : byte
{
    /// <summary>The packet completed.</summary>
    Done = 0,
    /// <summary>The cycle budget ran out between units of work; call again with the same state to resume.</summary>
    Yielded = 1,
    /// <summary>A memory access faulted; see <see cref="WorkFault"/>. Units before the faulting one are complete.</summary>
    Faulted = 2,
    /// <summary>The packet's payload is malformed (bad length, unknown kernel, bad format).</summary>
    Malformed = 3,
}

/// <summary>Where and why a long packet faulted.</summary>
internal readonly record struct WorkFault(ulong Va, TranslationStatus Status);
