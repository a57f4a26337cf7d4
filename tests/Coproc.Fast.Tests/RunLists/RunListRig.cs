using Coproc.Fast.Driver;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.RunLists;
using Coproc.Fast.Driver.VidSch.RunLists;
using Coproc.Fast.Tests.Engines;

namespace Coproc.Fast.Tests.RunLists;

/// <summary>
/// A device with numbered contexts on one engine, a <see cref="RunListSubmitter"/> and, in history mode, a
/// <see cref="HistoryBufferReader"/>. Each context has its own address space with a 4 KiB log page at <see cref="Log"/>
/// and, for copies, 256 KiB source/destination buffers.
/// </summary>
internal sealed class RunListRig : IDisposable
{
    public const ulong UnmappedVa = 0x7700_0000;
    public static readonly PhysicalAddress HistoryBase = PhysicalAddress.System(0x10000);
    private readonly Dictionary<int, EngineContext> _contexts = new();
    private readonly Dictionary<int, ulong> _logs = new();

    public RunListRig(bool history, uint historyBytes = 64 * 64, EngineKind engine = EngineKind.Render)
    {
        Machine = new EngineTestMachine();
        Engine = engine;
        Submitter = new RunListSubmitter(Bus, engine, Machine.AllocLocal(4096));
        if (history) History = HistoryBufferReader.Enable(Bus, HistoryBase, historyBytes);
    }

    public EngineTestMachine Machine { get; }
    public DirectDeviceBus Bus => _bus ??= new DirectDeviceBus(Device);
    private DirectDeviceBus? _bus;
    public Coproc.Fast.Device.Core.Coprocessor Device => Machine.Device;
    public EngineKind Engine { get; }
    public RunListSubmitter Submitter { get; }
    public HistoryBufferReader? History { get; }
    public CommandProcessor Cp => Device.Engine(Engine);

    /// <summary>Creates context <paramref name="id"/> (save area, ring, address space with a log page).</summary>
    public EngineContext Context(int id)
    {
        if (_contexts.TryGetValue(id, out var c)) return c;
        var space = Machine.NewAddressSpace();
        c = Machine.NewContext(space, (uint)id);
        _contexts[id] = c;
        _logs[id] = space.Alloc(4096);
        return c;
    }

    public ulong Log(int id)
    {
        Context(id);
        return _logs[id];
    }

    public ulong Sa(int id) => Context(id).SaveArea.Encoded;

    public ulong[] List(params int[] ids) => ids.Select(Sa).ToArray();

    /// <summary>Appends WRITE_DATA(log + 4 × slot, value).</summary>
    public void Write(int id, int slot, uint value) => Context(id).Submit((ref PacketWriter w) => w.WriteData(Log(id) + (ulong)slot * 4, value));

    /// <summary>Appends a WRITE_DATA to an unmapped VA (a page fault).</summary>
    public void PageFault(int id, ulong va = UnmappedVa) => Context(id).Submit((ref PacketWriter w) => w.WriteData(va, 1));

    /// <summary>Appends a COPY of <paramref name="bytes"/> inside the context's own space (64 + bytes/32 cycles).</summary>
    public void LongCopy(int id, ulong bytes = 256 << 10)
    {
        var space = Context(id).Space;
        ulong src = space.Alloc(bytes), dst = space.Alloc(bytes);
        Context(id).Submit((ref PacketWriter w) => w.Copy(dst, src, bytes));
    }

    public uint ReadLog(int id, int slot) => Context(id).Space.Read32(Log(id) + (ulong)slot * 4);

    public ContextSaveArea Saved(int id) => Machine.ReadSaveArea(Context(id));

    public int IdOf(ulong saveArea) => saveArea == 0 ? 0 : _contexts.Single(kv => kv.Value.SaveArea.Encoded == saveArea).Key;

    public uint State => Device.Mmio.Read32(MmioMap.RunListBase + RunListRegisters.EngineBase + (uint)Engine * RunListRegisters.EngineStride + RunListRegisters.State);

    /// <summary>The CONTEXT_SWITCH interrupts of this engine, as (reason, to-context id), draining the queue.</summary>
    public List<(SwitchReason Reason, int To)> Switches()
    {
        return Machine.DrainInterrupts()
            .Where(i => i.Source == InterruptSource.ContextSwitch && i.Engine == (byte)Engine)
            .Select(i => ((SwitchReason)i.Data0, IdOf(i.Data1))).ToList();
    }

    public void Dispose() => Machine.Dispose();
}
