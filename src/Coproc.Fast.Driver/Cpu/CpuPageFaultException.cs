namespace Coproc.Fast.Driver.Cpu;

/// <summary>Why an emulated CPU access faulted.</summary>
public enum CpuFaultReason
{
    /// <summary>No CPU page-table entry maps the address (never mapped, or unmapped: seed 002).</summary>
    NotMapped = 1,
    /// <summary>A write through a read-only mapping.</summary>
    WriteProtected,
    /// <summary>The CPU PTE points into the aperture but the aperture entry is invalid or not local memory.</summary>
    ApertureEntryInvalid,
    /// <summary>The address maps a device register page (a doorbell page, seed 003), which has no memory behind it.</summary>
    NotMemory,
}

/// <summary>An emulated CPU access to a virtual address that does not (or no longer) refer to memory.</summary>
public sealed class CpuPageFaultException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CpuPageFaultException(ulong address, bool write, CpuFaultReason reason)
        : base($"CPU page fault: {(write ? "write" : "read")} at 0x{address:X16} ({reason})")
    {
        Address = address;
        IsWrite = write;
        Reason = reason;
    }

    /// <summary>The faulting virtual address.</summary>
    public ulong Address { get; }

    /// <summary>True for a write.</summary>
    public bool IsWrite { get; }

    /// <summary>The cause.</summary>
    public CpuFaultReason Reason { get; }
}
