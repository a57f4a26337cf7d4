namespace Coproc.Fast.Driver.VidMm;

/// <summary>What went wrong in a VidMm request. Each value names one problem with the request or one exhausted resource.</summary>
public enum VidMmError
{
    /// <summary>A size is zero or not a multiple of 4 KiB.</summary>
    UnalignedSize = 1,
    /// <summary>An alignment is not a power of two of at least 4 KiB.</summary>
    InvalidAlignment,
    /// <summary>An offset or address is not 4 KiB aligned (or not aligned as requested).</summary>
    UnalignedOffset,
    /// <summary>The request is larger than the memory or address space it targets could ever hold.</summary>
    RequestTooLarge,
    /// <summary>The placement hint and flags contradict each other (e.g. a primary surface in system memory).</summary>
    InvalidPlacement,
    /// <summary>The handle was never issued, was already freed (double free) or belongs to an older generation.</summary>
    InvalidHandle,
    /// <summary>Local video memory has no room for the request.</summary>
    OutOfLocalMemory,
    /// <summary>System memory (the system segment) has no room for the request.</summary>
    OutOfSystemMemory,
    /// <summary>Free memory exists but only in more pieces than one allocation may have.</summary>
    TooFragmented,
    /// <summary>The aperture (seed 001 §12) has no free pages left for a CPU mapping of local memory.</summary>
    OutOfApertureSpace,
    /// <summary>The virtual address space (GPU or CPU) has no free range of the requested size.</summary>
    OutOfVirtualAddressSpace,
    /// <summary>The requested virtual range lies (partly) beyond the address space's limit.</summary>
    BeyondAddressSpaceLimit,
    /// <summary>All address-space ids are in use.</summary>
    OutOfAsids,
    /// <summary>The range [offset, offset+length) is not inside the allocation.</summary>
    RangeOutsideAllocation,
    /// <summary>The virtual range was not reserved in this address space (or not with this size).</summary>
    NotReserved,
    /// <summary>The virtual range is already reserved.</summary>
    AlreadyReserved,
    /// <summary>Part of the virtual range is already mapped.</summary>
    AlreadyMapped,
    /// <summary>The address is not the start of a mapping (or was never handed out by a map request).</summary>
    NotMapped,
    /// <summary>The allocation (or reservation) still has mappings; unmap them first.</summary>
    StillMapped,
    /// <summary>The address space was released.</summary>
    AddressSpaceReleased,
    /// <summary>The allocation is managed by the residency manager (evictable): free it there, not with <c>Free</c>.</summary>
    ManagedAllocation,
    /// <summary>The operation needs an evictable (residency-managed) allocation and got a pinned one.</summary>
    NotManaged,
}

/// <summary>
/// A rejected VidMm request. Thrown before any state changes (or after the partial work has been rolled
/// back), so every other allocation, mapping and page-table entry is untouched.
/// </summary>
public sealed class VidMmException : Exception
{
    /// <summary>Creates the exception.</summary>
    public VidMmException(VidMmError error, string message) : base($"{error}: {message}") => Error = error;

    /// <summary>The problem.</summary>
    public VidMmError Error { get; }
}
