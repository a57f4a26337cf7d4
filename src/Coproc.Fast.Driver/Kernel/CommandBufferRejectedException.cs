using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Driver.Kernel;

/// <summary>Why the kernel-mode driver refused a command buffer (seed 001 §3.7: validation before copy and patching).</summary>
public enum CommandBufferRejection
{
    /// <summary>A packet failed structural decoding (see <see cref="CommandBufferRejectedException.DecodeError"/>).</summary>
    MalformedPacket = 1,
    /// <summary>A privileged packet (opcode ≥ 0x40): only the kernel writes those (seed 001 §7.1).</summary>
    PrivilegedPacket,
    /// <summary>A FENCE with the privileged (physical address) flag.</summary>
    PrivilegedFence,
    /// <summary>INDIRECT: only the kernel's ring may redirect.</summary>
    IndirectNotAllowed,
    /// <summary>A packet kind basic-model command buffers do not carry (engine work packets).</summary>
    UnsupportedPacket,
    /// <summary>A memory operand with no resource-list entry: a raw address (basic model forbids them, seed 001 §3.7).</summary>
    RawAddress,
    /// <summary>A resource-list entry whose offset is not a packet with a free memory operand.</summary>
    StrayReference,
    /// <summary>Resource-list entries are not in buffer order.</summary>
    ReferencesOutOfOrder,
    /// <summary>A handle the calling process does not own (or a stale one).</summary>
    HandleNotOwned,
    /// <summary>An operand's range runs past the end of its allocation.</summary>
    OutOfBounds,
    /// <summary>An operand that writes memory is referenced without the write flag.</summary>
    WriteNotDeclared,
    /// <summary>A resource id above the declared maximum (seed 001 §3.2).</summary>
    ResourceIdOutOfRange,
    /// <summary>The command buffer or its resource list exceeds a DMA buffer's capacity.</summary>
    TooLarge,
    /// <summary>The context does not exist or is not the caller's.</summary>
    UnknownContext,
    /// <summary>The buffer is empty.</summary>
    Empty,
    /// <summary>An engine work packet for another engine than the context's (native-layout.md §8A, §16.1).</summary>
    WrongEngine,
    /// <summary>An engine work packet whose length or fixed fields are not what §8A says (checked before its operands).</summary>
    MalformedWorkPacket,
    /// <summary>
    /// The process reached one of its <see cref="KmdQuotas"/> (outstanding submissions or kernel memory): retry once
    /// some of its work has finished (docs/containment.md).
    /// </summary>
    QuotaExceeded,
    /// <summary>The kernel could not allocate a DMA buffer (system memory is exhausted); nothing was queued.</summary>
    OutOfKernelMemory,
}

/// <summary>
/// The KMD refused a command buffer: nothing was queued and the context stays usable. Names the byte
/// offset of the offending packet (or resource-list index for list errors) and the reason.
/// </summary>
public sealed class CommandBufferRejectedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CommandBufferRejectedException(CommandBufferRejection reason, long offset, string detail, DecodeError decodeError = DecodeError.None)
        : base($"command buffer rejected at byte offset {offset}: {reason} ({detail})")
    {
        Reason = reason;
        Offset = offset;
        DecodeError = decodeError;
    }

    /// <summary>Why.</summary>
    public CommandBufferRejection Reason { get; }

    /// <summary>Byte offset of the offending packet in the command buffer (−1 when the whole buffer is at fault).</summary>
    public long Offset { get; }

    /// <summary>The decoder's reason for <see cref="CommandBufferRejection.MalformedPacket"/>.</summary>
    public DecodeError DecodeError { get; }
}
