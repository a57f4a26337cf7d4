using System.Numerics;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Driver.Cpu;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Driver.VidMm;

/// <summary>
/// VidMm, the kernel-mode video memory manager (seed 001 §5.1, seed 002): segments and their allocators,
/// typed allocation handles, per-process GPU virtual address spaces and CPU mappings of device memory
/// through the aperture. It reaches the device only through the hardware interface: physical memory
/// reads/writes (<see cref="DeviceMemory"/>) and registers, through the device bus (<see cref="IDeviceBus"/>).
/// Not thread-safe: one kernel lock (the caller) serialises requests.
/// </summary>
public sealed partial class VideoMemoryManager
{
    /// <summary>Smallest allocation granule and alignment: one 4 KiB page.</summary>
    public const ulong PageSize = 4096;

    private readonly AllocationTable _allocations = new();
    private readonly List<PhysicalExtent> _scratch = new(4);
    private readonly Stack<ushort> _freeAsids = new();
    private ushort _nextAsid = 1;

    /// <summary>Creates VidMm over a device bus (memory and registers); segment and aperture sizes come from the device block registers.</summary>
    public VideoMemoryManager(IDeviceBus bus)
    {
        Bus = bus ?? throw new ArgumentNullException(nameof(bus));
        Memory = bus.Memory;
        Local = new MemorySegment(MemoryLocation.Local, bus.ReadRegister(MmuRegisters.LocalSize));
        // Local PA 0 is "none" to the engines (native-layout.md §10.1: CONTEXT_SWITCH 0 = go idle, CURRENT_CONTEXT 0 =
        // idle, "a save area can therefore not live at PA 0"): a save area placed there could never be loaded — its
        // switch request went idle and its work never ran. The first local page is therefore never handed out.
        Local.Pages.TryAllocateAt(0, 1);
        System = new MemorySegment(MemoryLocation.System, bus.ReadRegister(MmuRegisters.SystemSize));
        Aperture = new ApertureManager(this, bus.ReadRegister(MmuRegisters.ApertureSize));
    }

    /// <summary>Creates VidMm for a device stepped on the caller's thread, over a <see cref="DirectDeviceBus"/>.</summary>
    public static VideoMemoryManager ForDevice(Coprocessor device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return new VideoMemoryManager(new DirectDeviceBus(device));
    }

    /// <summary>Physical memory (the "memory" part of the hardware interface).</summary>
    public DeviceMemory Memory { get; }

    /// <summary>The device bus: VidMm's only way to the registers (MMU block: TLB invalidation, the aperture table).</summary>
    public IDeviceBus Bus { get; }

    /// <summary>The local video memory segment.</summary>
    public MemorySegment Local { get; }

    /// <summary>The system memory segment (reached by the GPU through its page tables).</summary>
    public MemorySegment System { get; }

    /// <summary>The CPU-visible aperture onto local memory (seed 001 §12).</summary>
    public ApertureManager Aperture { get; }

    /// <summary>Live allocations.</summary>
    public int LiveAllocations => _allocations.LiveCount;

    internal AllocationTable Allocations => _allocations;

    /// <summary>
    /// Allocates a portion of device memory (seed 002 claim 1).
    /// </summary>
    /// <param name="bytes">Size; a non-zero multiple of 4 KiB.</param>
    /// <param name="alignment">Physical alignment; a power of two ≥ 4 KiB (64 KiB, 2 MiB, …).</param>
    /// <param name="placement">Which segment to try, and whether the other is acceptable.</param>
    /// <param name="flags">Use and requirements.</param>
    /// <exception cref="VidMmException">Bad size, alignment or placement, or no room; nothing changes. Memory a recorded
    /// eviction has not finished reading is not room yet (memory in transit, docs/memory.md): the caller may write what it
    /// gets with the CPU at once.</exception>
    public AllocationHandle Allocate(ulong bytes, ulong alignment = PageSize, PlacementHint placement = PlacementHint.PreferLocal,
        AllocationFlags flags = AllocationFlags.None) => AllocateCore(bytes, alignment, placement, flags, clearReused: false);

    /// <summary>
    /// <see cref="Allocate(ulong, ulong, PlacementHint, AllocationFlags)"/> for a process (the KMD's allocation service):
    /// the memory is cleared (pages a former owner may have written are zeroed, <see cref="MemorySegment.ClearReused"/>).
    /// Like every allocation it never gets memory in transit (ResidencyManager.InTransit.cs): the caller waits for that
    /// paging and asks again (Kmd.Allocate).
    /// </summary>
    internal AllocationHandle AllocateForProcess(ulong bytes, ulong alignment, PlacementHint placement, AllocationFlags flags) =>
        AllocateCore(bytes, alignment, placement, flags, clearReused: true);

    private AllocationHandle AllocateCore(ulong bytes, ulong alignment, PlacementHint placement, AllocationFlags flags, bool clearReused)
    {
        if (bytes == 0 || (bytes & (PageSize - 1)) != 0)
            throw new VidMmException(VidMmError.UnalignedSize, $"size 0x{bytes:X} is not a non-zero multiple of 4 KiB");
        if (alignment < PageSize || !BitOperations.IsPow2(alignment))
            throw new VidMmException(VidMmError.InvalidAlignment, $"alignment 0x{alignment:X} is not a power of two >= 4 KiB");
        bool primary = (flags & AllocationFlags.PrimarySurface) != 0;
        if (primary)
        {
            // The display scans out a physically contiguous local range (seed 001 §5.4.1, CRTC exception).
            if (placement is PlacementHint.SystemOnly or PlacementHint.PreferSystem)
                throw new VidMmException(VidMmError.InvalidPlacement, "a primary surface must live in local memory");
            placement = PlacementHint.LocalOnly;
            flags |= AllocationFlags.Contiguous;
        }
        bool contiguous = (flags & AllocationFlags.Contiguous) != 0;
        MemorySegment first = placement is PlacementHint.PreferLocal or PlacementHint.LocalOnly ? Local : System;
        MemorySegment? second = placement switch
        {
            PlacementHint.PreferLocal => System,
            PlacementHint.PreferSystem => Local,
            _ => null,
        };
        if (bytes > first.SizeBytes && (second is null || bytes > second.SizeBytes))
            throw new VidMmException(VidMmError.RequestTooLarge, $"0x{bytes:X} bytes exceed every permitted segment");
        // Memory a recorded, unexecuted paging operation still touches is not free here (ResidencyManager.InTransit.cs):
        // return what the device has finished with before looking.
        RetireInTransit?.Invoke();
        _scratch.Clear();
        var segment = first;
        var error = bytes <= first.SizeBytes ? TryAllocateIn(first, bytes, alignment, contiguous, clearReused) : VidMmError.RequestTooLarge;
        if (error is not null && second is not null && bytes <= second.SizeBytes)
        {
            segment = second;
            error = TryAllocateIn(second, bytes, alignment, contiguous, clearReused);
        }
        if (error is { } e) throw new VidMmException(e, $"cannot place 0x{bytes:X} bytes aligned 0x{alignment:X} ({placement})");
        var rec = new AllocationRecord
        {
            Size = bytes, Alignment = alignment, Flags = flags, Placement = placement, Location = segment.Location,
            First = _scratch[0], ExtentCount = _scratch.Count,
            More = _scratch.Count > 1 ? _scratch.GetRange(1, _scratch.Count - 1).ToArray() : null,
        };
        return _allocations.Add(rec);
    }

    /// <summary>Returns an allocation's memory to its segment.</summary>
    /// <exception cref="VidMmException"><see cref="VidMmError.InvalidHandle"/> for a double free or stale handle;
    /// <see cref="VidMmError.StillMapped"/> while a GPU or CPU mapping refers to it.</exception>
    public void Free(AllocationHandle handle)
    {
        ref var r = ref _allocations.Get(handle);
        if ((r.Flags & AllocationFlags.Evictable) != 0)
            throw new VidMmException(VidMmError.ManagedAllocation, $"{handle} is residency-managed; destroy it through the residency manager");
        if (r.CallerMapCount != 0)
            throw new VidMmException(VidMmError.StillMapped, $"{handle} still has {r.CallerMapCount} mapping(s)");
        DropKernelAlias(handle);
        r = ref _allocations.Get(handle);
        var seg = SegmentOf(r.Location);
        for (int i = 0; i < r.ExtentCount; i++) seg.Free(r.Extent(i));
        _allocations.Remove(handle);
    }

    /// <summary>True while <paramref name="handle"/> names a live allocation.</summary>
    public bool IsLive(AllocationHandle handle) => _allocations.IsLive(handle);

    /// <summary>Size in bytes.</summary>
    public ulong SizeOf(AllocationHandle handle) => _allocations.Get(handle).Size;

    /// <summary>The segment the allocation lives in.</summary>
    public MemoryLocation LocationOf(AllocationHandle handle) => _allocations.Get(handle).Location;

    /// <summary>Flags as stored (PrimarySurface implies Contiguous).</summary>
    public AllocationFlags FlagsOf(AllocationHandle handle) => _allocations.Get(handle).Flags;

    /// <summary>Number of mappings (GPU and CPU) that refer to the allocation (the kernel's own alias not counted).</summary>
    public int MapCountOf(AllocationHandle handle) => _allocations.Get(handle).CallerMapCount;

    /// <summary>The physically contiguous pieces of the allocation, in order.</summary>
    public PhysicalExtent[] ExtentsOf(AllocationHandle handle)
    {
        ref var r = ref _allocations.Get(handle);
        var a = new PhysicalExtent[r.ExtentCount];
        for (int i = 0; i < a.Length; i++) a[i] = r.Extent(i);
        return a;
    }

    /// <summary>The physical address of byte <paramref name="offset"/> of the allocation.</summary>
    public PhysicalAddress PhysicalAddressOf(AllocationHandle handle, ulong offset)
    {
        ref var r = ref _allocations.Get(handle);
        if (offset >= r.Size) throw new VidMmException(VidMmError.RangeOutsideAllocation, $"offset 0x{offset:X} is past {handle} (0x{r.Size:X} bytes)");
        return r.PhysicalAt(offset, out _);
    }

    /// <summary>Handles of every live allocation.</summary>
    public IEnumerable<AllocationHandle> LiveHandles() => _allocations.LiveHandles();

    /// <summary>Creates a GPU virtual address space with its own ASID and page tables (seed 001 §4.2).</summary>
    public GpuAddressSpace CreateGpuAddressSpace(GpuAddressSpaceOptions? options = null)
    {
        options ??= new GpuAddressSpaceOptions();
        ushort asid = TakeAsid();
        try { return new GpuAddressSpace(this, asid, options); }
        catch { ReturnAsid(asid); throw; }
    }

    /// <summary>Creates an emulated CPU address space (one process) whose mappings reach device memory.</summary>
    public CpuAddressSpace CreateCpuAddressSpace() => new(Memory, Aperture.Window);

    /// <summary>Registers a residency-managed allocation whose single extent is <paramref name="at"/> (its backing store at first).</summary>
    internal AllocationHandle AddManaged(ulong bytes, ulong alignment, PhysicalExtent at) =>
        _allocations.Add(new AllocationRecord
        {
            Size = bytes, Alignment = alignment, Flags = AllocationFlags.Evictable, // resident copies may be scattered (LocalHome)
            Placement = PlacementHint.PreferLocal, Location = at.Address.Location, First = at, ExtentCount = 1,
        });

    /// <summary>
    /// Records that a managed allocation now lives at <paramref name="first"/> followed by <paramref name="more"/> (in
    /// allocation order; null for one extent), so <see cref="PhysicalAddressOf"/> and <see cref="ExtentsOf"/> stay true.
    /// </summary>
    internal void MoveManaged(AllocationHandle handle, PhysicalExtent first, PhysicalExtent[]? more)
    {
        ref var r = ref _allocations.Get(handle);
        r.Location = first.Address.Location;
        r.First = first;
        r.ExtentCount = 1 + (more?.Length ?? 0);
        r.More = more;
    }

    /// <summary>Drops a managed allocation's record; the residency manager has already returned its memory.</summary>
    internal void RemoveManaged(AllocationHandle handle)
    {
        if (_allocations.Get(handle).CallerMapCount is var n && n != 0)
            throw new VidMmException(VidMmError.StillMapped, $"{handle} still has {n} mapping(s)");
        DropKernelAlias(handle);
        _allocations.Remove(handle);
    }

    internal MemorySegment SegmentOf(MemoryLocation location) => location == MemoryLocation.Local ? Local : System;

    internal static void ValidateRange(in AllocationRecord r, AllocationHandle h, ulong offset, ulong bytes)
    {
        if ((offset & (PageSize - 1)) != 0)
            throw new VidMmException(VidMmError.UnalignedOffset, $"offset 0x{offset:X} is not 4 KiB aligned");
        if (bytes == 0 || (bytes & (PageSize - 1)) != 0)
            throw new VidMmException(VidMmError.UnalignedSize, $"length 0x{bytes:X} is not a non-zero multiple of 4 KiB");
        if (offset >= r.Size || bytes > r.Size - offset)
            throw new VidMmException(VidMmError.RangeOutsideAllocation, $"[0x{offset:X}, +0x{bytes:X}) is not inside {h} (0x{r.Size:X} bytes)");
    }

    /// <summary>
    /// Allocates physically contiguous, zeroed pages for page tables (seed 001 §5.4: tables live in
    /// supplemental memory, located by physical address); local memory first, then system memory.
    /// </summary>
    internal PhysicalAddress AllocateTablePages(ulong pages, bool localOnly = false)
    {
        RetireInTransit?.Invoke(); // as in Allocate: the CPU zeroes the pages at once
        _scratch.Clear();
        var error = Local.TryAllocate(pages * PageSize, PageSize, contiguous: true, _scratch);
        if (error is not null && !localOnly) error = System.TryAllocate(pages * PageSize, PageSize, contiguous: true, _scratch);
        if (error is not null)
            throw new VidMmException(localOnly ? VidMmError.OutOfLocalMemory : error.Value, $"no room for {pages} page-table page(s)");
        var at = _scratch[0].Address;
        for (ulong p = 0; p < pages; p++) Memory.GetSpan(at.Add(p * PageSize), (int)PageSize).Clear();
        return at;
    }

    internal void FreeTablePages(PhysicalAddress at, ulong pages) =>
        SegmentOf(at.Location).Free(new PhysicalExtent(at, pages * PageSize));

    private VidMmError? TryAllocateIn(MemorySegment segment, ulong bytes, ulong alignment, bool contiguous, bool clearReused)
    {
        var error = segment.TryAllocate(bytes, alignment, contiguous, _scratch);
        // Invariant (isolation): a process's allocation never shows it a former owner's bytes. Pages freed before are
        // zeroed here, by the CPU, at once — they are in the free pool, so no unexecuted paging operation still reads or
        // writes them (memory in transit is not in the pool until the device has executed that paging), and no writer of
        // the new owner exists yet.
        if (error is null && clearReused) foreach (var e in _scratch) segment.ClearReused(Memory, e);
        return error;
    }

    /// <summary>Set by the residency manager: returns memory in transit whose paging has executed to the segments
    /// (<see cref="Residency.ResidencyManager.RetireInTransit"/>); true when any was returned.</summary>
    internal Func<bool>? RetireInTransit { get; set; }

    private ushort TakeAsid()
    {
        if (_freeAsids.Count > 0) return _freeAsids.Pop();
        if (_nextAsid > 4095) throw new VidMmException(VidMmError.OutOfAsids, "all 4095 address-space ids are in use");
        return _nextAsid++;
    }

    internal void ReturnAsid(ushort asid) => _freeAsids.Push(asid);
}
