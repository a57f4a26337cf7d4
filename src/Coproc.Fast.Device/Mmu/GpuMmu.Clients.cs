namespace Coproc.Fast.Device.Mmu;

internal sealed partial class GpuMmu
{
    /// <summary>Most translation clients the registry holds (the client id is 8 bits in FAULT_INFO).</summary>
    public const int MaxClients = 256;

    private readonly List<Tlb> _clients = new();
    private MmuFault _lastFault;

    /// <summary>
    /// Creates and registers the TLB of one translation client (an engine, the display, the aperture). Every
    /// invalidation request (<see cref="Invalidate"/>, <see cref="InvalidateAll"/>, TLB_INV_CMD) reaches every
    /// registered TLB. The TLB's <see cref="Tlb.ClientId"/> is its index in <see cref="ClientTlbs"/> and is the
    /// client id the fault log records.
    /// </summary>
    /// <param name="clientName">A name for diagnostics (e.g. "copy0", "display", "aperture"); unique.</param>
    /// <param name="entries">TLB entries per address space, a power of two in 1..65536 (the TLB holds <see cref="Tlb.AddressSpaceSlots"/> such tables).</param>
    /// <exception cref="ArgumentException">The name is empty or already registered.</exception>
    /// <exception cref="InvalidOperationException"><see cref="MaxClients"/> TLBs already exist.</exception>
    public Tlb CreateClientTlb(string clientName, int entries = 64)
    {
        ArgumentException.ThrowIfNullOrEmpty(clientName);
        if (_clients.Count >= MaxClients)
            throw new InvalidOperationException($"the MMU already has {MaxClients} client TLBs (client ids are 8 bits)");
        foreach (var c in _clients)
            if (c.ClientName == clientName) throw new ArgumentException($"a client TLB named '{clientName}' already exists", nameof(clientName));
        var tlb = new Tlb(entries, clientName, _clients.Count);
        _clients.Add(tlb);
        return tlb;
    }

    /// <summary>Every registered client TLB, indexed by client id.</summary>
    public IReadOnlyList<Tlb> ClientTlbs => _clients;

    /// <summary>Invalidation commands completed (TLB_INV_COUNT).</summary>
    public long InvalidationCount { get; private set; }

    /// <summary>
    /// TLB_INV_CMD 1: drops, on every client TLB, the entries of <paramref name="asid"/> (<see cref="Tlb.AllAsids"/> =
    /// every address space) for <paramref name="pages"/> 4 KiB pages from the page holding <paramref name="va"/>
    /// (<paramref name="pages"/> = 0: the whole address space). Takes effect before this method returns.
    /// </summary>
    public void Invalidate(ushort asid, ulong va, ulong pages)
    {
        foreach (var tlb in _clients) tlb.InvalidatePages(asid, va, pages);
        InvalidationCount++;
    }

    /// <summary>TLB_INV_CMD 2: empties every client TLB.</summary>
    public void InvalidateAll()
    {
        foreach (var tlb in _clients) tlb.InvalidateAll();
        InvalidationCount++;
    }

    /// <summary>Counts a command that invalidated one client (TLB_INV_CMD 3 on the aperture TLB).</summary>
    internal void InvalidateClient(Tlb tlb)
    {
        tlb.InvalidateAll();
        InvalidationCount++;
    }

    /// <summary>MMU faults reported so far (FAULT_COUNT).</summary>
    public long FaultCount { get; private set; }

    /// <summary>The last MMU fault reported (FAULT_VA, FAULT_INFO); default until the first.</summary>
    public MmuFault LastFault => _lastFault;

    /// <summary>
    /// Records a translation fault in the fault log (FAULT_COUNT, FAULT_VA, FAULT_INFO). Called by a translation
    /// client (an engine) when a translation it needs fails; the client then faults its context. Does not allocate.
    /// </summary>
    /// <param name="clientId">The client's <see cref="Tlb.ClientId"/> (0..255).</param>
    /// <param name="asid">The faulting address space.</param>
    /// <param name="va">The faulting virtual address.</param>
    /// <param name="status">Why the translation failed (not <see cref="TranslationStatus.Ok"/>).</param>
    /// <param name="access">Read or write.</param>
    /// <exception cref="ArgumentOutOfRangeException">The client id is not 0..255 or the status is Ok.</exception>
    public void ReportFault(int clientId, ushort asid, ulong va, TranslationStatus status, AccessKind access)
    {
        if ((uint)clientId >= MaxClients) throw new ArgumentOutOfRangeException(nameof(clientId), clientId, "client ids are 0..255");
        if (status == TranslationStatus.Ok) throw new ArgumentOutOfRangeException(nameof(status), status, "a fault needs a failing status");
        _lastFault = new MmuFault((byte)clientId, asid, va, status, access);
        FaultCount++;
    }

    /// <summary>Device reset (native-layout.md §20.3): back to the power-on state.</summary>
    internal void Reset()
    {
        foreach (var tlb in _clients) tlb.InvalidateAll();
        InvalidationCount = 0;
        FaultCount = 0;
        _lastFault = default;
    }
}
