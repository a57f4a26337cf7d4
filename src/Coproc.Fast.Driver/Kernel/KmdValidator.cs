using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Driver.Kernel;

/// <summary>One memory operand of a validated command buffer: where its two dwords are and what they referred to.</summary>
/// <param name="FieldDword">Dword index of the operand's low dword in the buffer.</param>
/// <param name="Reference">Index of its resource-list entry.</param>
/// <param name="AllocationOffset">The offset inside the allocation the UMD wrote there (kept to re-patch).</param>
public readonly record struct PatchSite(int FieldDword, int Reference, ulong AllocationOffset);

/// <summary>
/// The KMD's validation of a command buffer (seed 001 §3.7): known packets only (decoded with
/// <see cref="PacketDecoder"/>), no privileged packets or privileged fences, no INDIRECT, and every memory operand
/// named by exactly one resource-list entry — in buffer order, at the packet's byte offset, owned by the caller,
/// within its allocation, with the write flag when the packet writes. Produces the patch sites. Allocation-free.
/// </summary>
public static partial class KmdValidator
{
    /// <summary>
    /// Validates <paramref name="commands"/> against <paramref name="resources"/> for <paramref name="owner"/> and
    /// writes one <see cref="PatchSite"/> per operand into <paramref name="sites"/>; returns how many.
    /// </summary>
    /// <exception cref="CommandBufferRejectedException">The buffer is invalid; the offset and reason say where and why.</exception>
    /// <param name="commands">The command buffer.</param>
    /// <param name="resources">Its resource list.</param>
    /// <param name="owner">The submitting process.</param>
    /// <param name="maxResourceId">Highest resource id declared.</param>
    /// <param name="sites">Receives one patch site per operand.</param>
    /// <param name="engine">The engine of the context the buffer is for: its engine work packets are accepted
    /// (native-layout.md §16.1); null refuses every engine work packet.</param>
    public static int Validate(ReadOnlySpan<uint> commands, ReadOnlySpan<ResourceReference> resources, KmdProcess owner,
        ushort maxResourceId, Span<PatchSite> sites, Coproc.Fast.Device.Engines.EngineKind? engine = null)
    {
        if (commands.IsEmpty) throw new CommandBufferRejectedException(CommandBufferRejection.Empty, -1, "no packets");
        if (resources.Length > sites.Length)
            throw new CommandBufferRejectedException(CommandBufferRejection.TooLarge, -1, $"{resources.Length} resource-list entries, at most {sites.Length}");
        int next = 0; // next resource-list entry to consume, in buffer order (seed 001 §3.2)
        int off = 0;
        while (off < commands.Length)
        {
            long at = (long)off * 4;
            if (!PacketDecoder.TryDecode(commands, off, out var p, out var error))
                throw new CommandBufferRejectedException(CommandBufferRejection.MalformedPacket, at, $"decoder says {error}", error);
            var s = p.Slice(commands);
            switch (p.Opcode)
            {
                case Opcode.Nop:
                case Opcode.Trap:
                    break;
                case Opcode.WriteData:
                    Operand(s, 1, (ulong)(s.Length - PacketFormat.WriteDataFixedDwords) * 4, write: true, off, resources, owner, maxResourceId, sites, ref next);
                    break;
                case Opcode.Copy:
                {
                    ulong bytes = PacketFormat.U64(s[5], s[6]);
                    Operand(s, 1, bytes, write: false, off, resources, owner, maxResourceId, sites, ref next);
                    Operand(s, 3, bytes, write: true, off, resources, owner, maxResourceId, sites, ref next);
                    break;
                }
                case Opcode.Fill:
                    Operand(s, 1, PacketFormat.U64(s[4], s[5]), write: true, off, resources, owner, maxResourceId, sites, ref next);
                    break;
                case Opcode.Timestamp:
                    Operand(s, 1, 8, write: true, off, resources, owner, maxResourceId, sites, ref next);
                    break;
                case Opcode.Fence:
                    if ((p.Flags & PacketFormat.FencePrivilegedFlag) != 0)
                        throw new CommandBufferRejectedException(CommandBufferRejection.PrivilegedFence, at, "a fence to a physical address");
                    Operand(s, 1, 8, write: true, off, resources, owner, maxResourceId, sites, ref next);
                    break;
                case Opcode.Wait:
                case Opcode.Signal:
                    // WAIT decrements the counter as SIGNAL increments it: both write (native-layout.md §8.2).
                    Operand(s, 1, 4, write: true, off, resources, owner, maxResourceId, sites, ref next);
                    break;
                case Opcode.WaitFence:
                    Operand(s, 1, 8, write: false, off, resources, owner, maxResourceId, sites, ref next);
                    break;
                case Opcode.Indirect:
                    throw new CommandBufferRejectedException(CommandBufferRejection.IndirectNotAllowed, at, "INDIRECT is the kernel ring's");
                case Opcode.DrawRects:
                case Opcode.Dispatch:
                case Opcode.VideoDecode:
                case Opcode.VideoEncode:
                    WorkPacket(p.Opcode, s, engine, off, resources, owner, maxResourceId, sites, ref next);
                    break;
                default:
                    if (PacketFormat.IsPrivileged(p.Opcode))
                        throw new CommandBufferRejectedException(CommandBufferRejection.PrivilegedPacket, at, $"opcode {p.Opcode}");
                    throw new CommandBufferRejectedException(CommandBufferRejection.UnsupportedPacket, at, $"opcode {p.Opcode} is not carried by basic-model command buffers");
            }
            if (next < resources.Length && resources[next].BufferOffset == (uint)at)
                throw new CommandBufferRejectedException(CommandBufferRejection.StrayReference, at, $"resource-list entry {next} names no free operand of this {p.Opcode}");
            off += p.LengthDwords;
        }
        if (next < resources.Length)
        {
            uint o = resources[next].BufferOffset;
            var reason = next > 0 && o < resources[next - 1].BufferOffset ? CommandBufferRejection.ReferencesOutOfOrder : CommandBufferRejection.StrayReference;
            throw new CommandBufferRejectedException(reason, o, $"resource-list entry {next} is not at a packet with a free operand");
        }
        return next;
    }

    [ThreadStatic] private static ulong t_lastSize; // size of the allocation the previous Operand call validated

    private static void Operand(ReadOnlySpan<uint> packet, int field, ulong bytes, bool write, int packetDword,
        ReadOnlySpan<ResourceReference> resources, KmdProcess owner, ushort maxResourceId, Span<PatchSite> sites, ref int next)
    {
        long at = (long)packetDword * 4;
        if (next >= resources.Length || resources[next].BufferOffset != (uint)at)
        {
            var reason = next < resources.Length && resources[next].BufferOffset < (uint)at
                ? CommandBufferRejection.StrayReference : CommandBufferRejection.RawAddress;
            throw new CommandBufferRejectedException(reason, reason == CommandBufferRejection.StrayReference ? resources[next].BufferOffset : at,
                $"operand at dword {field} has no resource-list entry");
        }
        var r = resources[next];
        if (r.ResourceId > maxResourceId)
            throw new CommandBufferRejectedException(CommandBufferRejection.ResourceIdOutOfRange, at, $"resource id {r.ResourceId} > {maxResourceId}");
        // Consecutive references to one allocation (the common case) reuse the ownership lookup the previous entry —
        // validated just before by this same call on this thread — made (one lock and dictionary lookup fewer).
        ulong size = t_lastSize;
        bool sameAsPrevious = next > 0 && resources[next - 1].Handle == r.Handle;
        if (!sameAsPrevious && !owner.TryGetSize(r.Handle, out size))
            throw new CommandBufferRejectedException(CommandBufferRejection.HandleNotOwned, at, $"{r.Handle} is not owned by process {owner.ProcessId}");
        ulong offset = PacketFormat.U64(packet[field], packet[field + 1]);
        // The operand's first byte lies inside the allocation, even for zero bytes: patching needs its address
        // (invariant: every buffer the KMD accepts can be prepared, docs/containment.md).
        if (offset >= size || bytes > size - offset)
            throw new CommandBufferRejectedException(CommandBufferRejection.OutOfBounds, at, $"[0x{offset:X}, +0x{bytes:X}) outside {r.Handle} (0x{size:X} bytes)");
        if (write && !r.Write)
            throw new CommandBufferRejectedException(CommandBufferRejection.WriteNotDeclared, at, $"{r.Handle} is written but listed read-only");
        t_lastSize = size;
        sites[next] = new PatchSite(packetDword + field, next, offset);
        next++;
    }
}
