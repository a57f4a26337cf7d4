using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Device.Interrupts;

namespace Coproc.Fast.Driver;

/// <summary>
/// Reads the interrupt controller through its registers on the device bus (native-layout.md §9.1–9.2): STATUS, then the information
/// queue head by head (INFO_SOURCE / CONTEXT / DATA0 / DATA1 / CYCLE, POP), then ACK of the STATUS read.
/// </summary>
internal static class InterruptServiceRoutine
{
    private const uint Status = MmioMap.InterruptBase + InterruptRegisters.Status, Enable = MmioMap.InterruptBase + InterruptRegisters.Enable;
    private const uint Ack = MmioMap.InterruptBase + InterruptRegisters.Ack, InfoCount = MmioMap.InterruptBase + InterruptRegisters.InfoCount;
    private const uint InfoSource = MmioMap.InterruptBase + InterruptRegisters.InfoSource, InfoContext = MmioMap.InterruptBase + InterruptRegisters.InfoContext;
    private const uint InfoData0 = MmioMap.InterruptBase + InterruptRegisters.InfoData0, InfoData1 = MmioMap.InterruptBase + InterruptRegisters.InfoData1;
    private const uint InfoCycle = MmioMap.InterruptBase + InterruptRegisters.InfoCycle, InfoPop = MmioMap.InterruptBase + InterruptRegisters.InfoPop;

    /// <summary>True while the line is asserted (STATUS &amp; ENABLE ≠ 0).</summary>
    public static bool LineAsserted(IDeviceBus bus) => (bus.ReadRegister32(Status) & bus.ReadRegister32(Enable)) != 0;

    /// <summary>Drains the queue into <paramref name="into"/> (grown as needed) and acknowledges; returns the count.</summary>
    public static int Drain(IDeviceBus bus, ref InterruptRecord[] into)
    {
        uint status = bus.ReadRegister32(Status);
        int n = 0;
        while (bus.ReadRegister32(InfoCount) != 0)
        {
            uint src = bus.ReadRegister32(InfoSource);
            if (n == into.Length) Array.Resize(ref into, n * 2);
            into[n++] = new InterruptRecord((byte)src, (byte)(src >> 8), bus.ReadRegister32(InfoContext), bus.ReadRegister(InfoData0),
                bus.ReadRegister(InfoData1), bus.ReadRegister(InfoCycle));
            bus.WriteRegister32(InfoPop, 1);
        }
        bus.WriteRegister32(Ack, status);
        return n;
    }
}
