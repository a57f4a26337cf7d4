using System.Buffers.Binary;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Coproc.Fast.Device.Core;

namespace Coproc.Fast.Driver;

// Machine save-state (docs/embedding.md, "Machine save-state"): the device's own save-state (native-layout.md §20.8) with
// system memory, and the driver's object graph (MachineStateGraph.cs), in one checksummed stream.
public sealed partial class Machine
{
    /// <summary>"CPMS" little-endian: the first four bytes of a machine save-state (docs/embedding.md, "Machine save-state").</summary>
    public const uint SaveStateMagic = 0x534D_5043;

    /// <summary>The machine save-state format version this build writes and reads.</summary>
    public const uint SaveStateVersion = 1;

    private const string OptionsTag = "OPTS", DeviceTag = "DEVS", DriverTag = "DRVR", EndTag = "END!";
    private const int HashBytes = 32;

    /// <summary>
    /// Deterministic mode: writes the whole machine to <paramref name="stream"/> — the device (registers, engines, memory,
    /// system memory included) and every driver structure (VidMm, residency, the KMD's processes and DMA buffers, each
    /// engine's scheduler with its contexts, queues, stages, sync objects and event history, the present path, user
    /// queues, the run-list back end, the machine's event queue) — so that <see cref="Restore"/> gives a machine that
    /// continues exactly as this one would: the same bytes, interrupts and trace. Call it between steps (not from an
    /// observer, a tap or a callback the machine is running). The machine is not changed. Observers, the interrupt
    /// tap, the scheduling auditor, flip-completed callbacks and event-history logs are the caller's attachments and are
    /// not saved.
    /// </summary>
    /// <exception cref="MachineStateException">Threaded mode, called from inside a step, or the machine holds state the
    /// save-state does not cover (a caller-supplied residency manager, scheduler host or callback, a native pointer
    /// outside device memory); nothing has been written to <paramref name="stream"/>.</exception>
    /// <exception cref="ObjectDisposedException">The machine is disposed.</exception>
    public void SaveState(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_direct is null) throw new MachineStateException("a threaded machine cannot be saved: its state changes on several threads (use MachineRunMode.Deterministic)");
        // Inside a step: a modeled gate charge, a kernel decision (observers, flip callbacks run under the kernel lock),
        // or an interrupt batch being delivered (the tap) — the state is between two halves of one event there.
        if (_inGateCharge || Monitor.IsEntered(Scheduler.KernelLock) || (Volatile.Read(ref _deliverySequence) & 1) != 0)
            throw new MachineStateException("SaveState was called from inside the machine's step: save between steps");
        // Both driver blocks are built first: a state the save-state does not cover is refused before a byte is written.
        var options = WriteGraph(Options, new MachineStateGraph.Context(null, [], allowDeviceObjects: true), out var optionObjects);
        var driver = WriteGraph(this, new MachineStateGraph.Context(Device.Memory, KnownObjects(Device, optionObjects), allowDeviceObjects: false), out _);
        using var hashed = new HashingStream(stream, writing: true);
        using (var w = new BinaryWriter(hashed, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(SaveStateMagic);
            w.Write(SaveStateVersion);
            w.Write(0u); // flags (none yet)
            w.Write(typeof(Machine).Module.ModuleVersionId.ToByteArray());
            WriteBlock(w, OptionsTag, options);
            WriteTag(w, DeviceTag);
        }
        Device.SaveState(hashed, includeSystemMemory: true); // self-delimiting: it ends with its own END! block
        using (var w = new BinaryWriter(hashed, Encoding.UTF8, leaveOpen: true)) WriteBlock(w, DriverTag, driver);
        var hash = hashed.Hash();
        using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            WriteTag(w, EndTag);
            w.Write((ulong)HashBytes);
            w.Write(hash);
        }
    }

    /// <summary>
    /// Builds a machine from a stream written by <see cref="SaveState"/> of the same build of this library: a new device
    /// with the saved options and state, and the driver as it was saved. Continuing it (e.g. <see cref="RunUntilIdle"/>)
    /// gives the same bytes, interrupts and trace as the saved machine would have. Every driver object is the saved one
    /// under the same identity: find contexts with <see cref="VidSch.VidSchScheduler.FindContext"/> or
    /// <see cref="Schedulers"/>, processes with <see cref="Kernel.Kmd.Process"/>, allocations, sync objects and
    /// submissions by their saved handles and ids. The restored machine has no observers, interrupt tap, auditor,
    /// flip-completed callback or event-history log: attach them again. The stream is read to the end of the save-state.
    /// </summary>
    /// <exception cref="MachineStateException">The stream is not a machine save-state of this build, or is truncated or
    /// corrupt (checked against its SHA-256); no machine is built.</exception>
    public static Machine Restore(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Coprocessor? device = null;
        try
        {
            using var hashed = new HashingStream(stream, writing: false);
            using var r = new BinaryReader(hashed, Encoding.UTF8, leaveOpen: true);
            if (r.ReadUInt32() != SaveStateMagic) throw new MachineStateException("not a machine save-state (magic is not \"CPMS\")");
            uint version = r.ReadUInt32();
            if (version != SaveStateVersion) throw new MachineStateException($"machine save-state version {version}; this build reads {SaveStateVersion}");
            uint flags = r.ReadUInt32();
            if (flags != 0) throw new InvalidDataException($"flags 0x{flags:X}");
            var build = new Guid(r.ReadBytes(16));
            if (build != typeof(Machine).Module.ModuleVersionId)
                throw new MachineStateException($"the save-state was written by another build of Coproc.Fast.Driver (module {build})");

            ReadBlockHeader(r, OptionsTag);
            var optionsReader = new MachineStateGraph.Reader(r, new MachineStateGraph.Context(null, [], allowDeviceObjects: true));
            if (optionsReader.ReadRoot() is not MachineOptions options) throw new InvalidDataException("the OPTS block is not machine options");
            if (options.Mode != MachineRunMode.Deterministic) throw new InvalidDataException("the saved machine is not deterministic");

            if (ReadTag(r) != DeviceTag) throw new InvalidDataException($"no {DeviceTag} block");
            device = new Coprocessor(options.Device);
            device.RestoreState(hashed);

            ReadBlockHeader(r, DriverTag);
            var known = KnownObjects(device, optionsReader.Objects);
            var driverReader = new MachineStateGraph.Reader(r, new MachineStateGraph.Context(device.Memory, known, allowDeviceObjects: false));
            if (driverReader.ReadRoot() is not Machine machine || !ReferenceEquals(machine.Device, device) || !ReferenceEquals(machine.Options, options))
                throw new InvalidDataException("the DRVR block is not this device's machine");

            var expected = hashed.Hash();
            if (ReadTag(r) != EndTag || r.ReadUInt64() != HashBytes) throw new InvalidDataException($"no {EndTag} block");
            if (!r.ReadBytes(HashBytes).AsSpan().SequenceEqual(expected)) throw new InvalidDataException("the SHA-256 does not match: the stream is corrupt");
            return machine;
        }
        catch (Exception e)
        {
            // Whatever a corrupt stream made the reader trip over (a short read, a bad tag, a field of the wrong type), no
            // machine is built and the caller sees one typed exception.
            device?.Dispose();
            throw e as MachineStateException ?? new MachineStateException($"the machine save-state is corrupt: {e.Message}", e);
        }
    }

    // The device's objects the driver holds: saved as an index into this list, which both sides build from their own
    // device (its state is the DEVS block) — the device, each of its public parts (memory, apertures, interrupt
    // controller, ... : every public property of a device reference type, by name, so a part added later is known too;
    // the driver touches registers only through its IDeviceBus), the memory regions — then the options block's objects
    // (shared with the options the driver holds).
    private static List<object> KnownObjects(Coprocessor device, IReadOnlyList<object> options)
    {
        var known = new List<object> { device };
        foreach (var property in typeof(Coprocessor).GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(p => p.Name, StringComparer.Ordinal))
            if (!property.PropertyType.IsValueType && property.PropertyType.Assembly == typeof(Coprocessor).Assembly
                && property.GetIndexParameters().Length == 0 && property.GetValue(device) is { } part)
                known.Add(part);
        known.Add(device.Memory.Local);
        foreach (var range in device.Memory.SystemRanges) known.Add(range.Memory);
        known.AddRange(options);
        return known;
    }

    private static byte[] WriteGraph(object root, MachineStateGraph.Context context, out IReadOnlyList<object> objects)
    {
        using var payload = new MemoryStream();
        using (var w = new BinaryWriter(payload, Encoding.UTF8, leaveOpen: true))
        {
            var writer = new MachineStateGraph.Writer(w, context);
            writer.WriteRoot(root);
            objects = writer.Objects;
        }
        return payload.ToArray();
    }

    private static void WriteBlock(BinaryWriter w, string tag, byte[] payload)
    {
        WriteTag(w, tag);
        w.Write((ulong)payload.Length);
        w.Write(payload);
    }

    private static void WriteTag(BinaryWriter w, string tag) => w.Write(BinaryPrimitives.ReadUInt32LittleEndian(Encoding.ASCII.GetBytes(tag)));

    private static string ReadTag(BinaryReader r)
    {
        Span<byte> tag = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(tag, r.ReadUInt32());
        return Encoding.ASCII.GetString(tag);
    }

    private static void ReadBlockHeader(BinaryReader r, string tag)
    {
        string t = ReadTag(r);
        if (t != tag) throw new InvalidDataException($"block {t} where {tag} was expected");
        r.ReadUInt64(); // length: the graph is self-delimiting; the checksum covers it
    }

    // Passes bytes through to the caller's stream and hashes them (SHA-256 of everything before the END! block).
    private sealed class HashingStream(Stream inner, bool writing) : Stream
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public byte[] Hash() => _hash.GetCurrentHash();

        public override bool CanRead => !writing;
        public override bool CanSeek => false;
        public override bool CanWrite => writing;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer);
            _hash.AppendData(buffer[..n]);
            return n;
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            _hash.AppendData(buffer);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _hash.Dispose();
            base.Dispose(disposing);
        }
    }
}
