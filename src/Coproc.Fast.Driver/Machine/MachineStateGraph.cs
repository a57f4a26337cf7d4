using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.Display;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;
using static Coproc.Fast.Layout.ObjectLayout;

namespace Coproc.Fast.Driver;

// The driver blocks of a machine save-state (docs/embedding.md, "Machine save-state"; blocks OPTS and DRVR).
//
// Design: the driver's state is spread over a few hundred fields of some hundred classes (VidMm's allocation table,
// segments and buddy allocators, address spaces, the residency manager's managed slots and LRU, the KMD's processes and
// DMA-buffer pools, each engine's scheduler with its contexts, ready queue, stages, in-flight chunks, sync objects and
// event history, the present manager, the user-queue registrar, the run-list back end, the machine's event queue). A
// hand-written save method per class would have to follow every field other changes add, and a forgotten field is a
// silent divergence after restore. So, as the device does for its own state (native-layout.md §20.8, block DEVS), the
// block is the object graph walked by reflection from its root: every instance field of every object, in a fixed order
// (fields of each type in metadata order, base type first; objects breadth-first in order of first reference), each
// object given an id at its first reference, so shared objects stay shared and every identity the driver keeps (context
// ids, allocation handles, sync-object handles, process ids, submission ids) is the saved one. The price is that the
// layout is this build's private field layout: a save-state restores into the same build of the driver only (the header
// records the driver assembly's module version id).
//
// Rules (a rule that does not hold refuses the save with MachineStateException; nothing is dropped silently):
//   - device objects (the Coprocessor, its memory, registers, apertures, interrupt controller) are "known": saved as an
//     index into a list both sides build from their own device, whose state is the DEVS block; any other reference
//     object of the device assembly is refused (the options block may hold device option records, which are data);
//   - objects of the driver are walked, and the framework's values, strings and collections (namespaces System,
//     System.Collections.*, System.Text); any other assembly's (a caller's own residency manager, scheduler host or
//     delegate target) or framework service's (a timer, a pool, a thread) is refused;
//   - delegates are saved as (type, method, target) and rebuilt over the restored target;
//   - synchronisation objects (a bare lock object, Lock, SemaphoreSlim, ManualResetEventSlim) are rebuilt fresh with the
//     same count or signal state (the machine is saved between steps, with no lock held);
//   - raw pointers into local or system memory are saved as (location, offset) and rebased onto the restored device;
//     any other non-null pointer (a native handle) is refused;
//   - a hashed collection (Dictionary, HashSet, ConcurrentDictionary) keeps its buckets as saved, so its keys must hash
//     the same in any process: value types without references, enums, primitives, strings. Identity-hashed keys are
//     refused;
//   - scratch a call fills and empties again (Machine.TrySubmit's pool of recorders and builders, a user queue's
//     TrySubmit writer) is not state either: saved as an empty slot, made again on first use after a restore;
//   - host attachments — schedule observers, the interrupt tap, the scheduling auditor, the flip-completed callback and
//     the event-history logs — are not state of the machine: they are saved as empty slots and the restored machine has
//     none (the caller attaches its own again).
internal static unsafe class MachineStateGraph
{
    private const byte TagNull = 0, TagBackReference = 1, TagKnown = 2, TagObject = 3, TagString = 4, TagDelegate = 5, TagSync = 6, TagSyncBackReference = 8,
        TagHostSlot = 7;
    private const byte SyncMonitor = 0, SyncLock = 1, SyncSemaphore = 2, SyncEvent = 3;
    private const byte PointerNull = 0, PointerLocal = 1, PointerSystem = 2;
    private const long MaxArrayBytes = 1L << 31; // a corrupt length must not make the reader allocate more before the checksum

    private static readonly ConcurrentDictionary<Type, bool> HashStableCache = new();
    private static readonly Assembly DriverAssembly = typeof(MachineStateGraph).Assembly;
    private static readonly Assembly DeviceAssembly = typeof(DeviceMemory).Assembly;
    private static readonly Assembly[] WalkedAssemblies =
    [
        DriverAssembly, typeof(object).Assembly, typeof(Queue<int>).Assembly, typeof(Stack<int>).Assembly, typeof(PriorityQueue<int, int>).Assembly,
        typeof(SortedSet<int>).Assembly, typeof(LinkedList<int>).Assembly, typeof(ConcurrentQueue<int>).Assembly,
        typeof(ConcurrentDictionary<int, int>).Assembly, typeof(HashSet<int>).Assembly,
    ];

    // Framework types walked field by field: values and collections, never runtime services (timers, pools, threads).
    private static readonly string[] WalkedNamespaces =
        ["System", "System.Collections.Generic", "System.Collections.Concurrent", "System.Collections.ObjectModel", "System.Text"];

    // Host attachments (see the design note): by declared type, and the callback / log properties by their backing field.
    private static readonly Type[] HostSlotTypes =
    [
        typeof(IScheduleObserver), typeof(IInterruptTap), typeof(ITraceSink), typeof(SchedulingAuditor), typeof(SchedulingAuditor.EngineState),
        typeof(SchedulingAuditor.RunListAudit),
    ];

    private static readonly FieldInfo[] HostSlotFields =
    [
        BackingField(typeof(PresentManager), nameof(PresentManager.FlipCompleted)),
        BackingField(typeof(VidSchScheduler), nameof(VidSchScheduler.EventHistoryLog)),
        BackingField(typeof(RunListScheduler), nameof(RunListScheduler.EventHistoryLog)),
        ScratchField(typeof(Machine), "_submissionWorkspaces"),
        ScratchField(typeof(Kernel.UserQueueContext), "_submissionWriter"),
    ];

    private sealed class RawBox { public byte Data; }

    private static FieldInfo ScratchField(Type type, string name) =>
        type.GetField(name, BindingFlags.Instance | BindingFlags.NonPublic)
        ?? throw new InvalidOperationException($"{type.Name}.{name} was renamed: update MachineStateGraph's scratch slots");

    private static FieldInfo BackingField(Type type, string property) =>
        type.GetField($"<{property}>k__BackingField", BindingFlags.Instance | BindingFlags.NonPublic)
        ?? throw new InvalidOperationException($"{type.Name}.{property} is no longer an auto-property: update MachineStateGraph's host slots");

    /// <summary>The memory pointers are rebased against, the objects mapped rather than walked, and whether device
    /// reference objects may be walked (the options block only).</summary>
    internal sealed class Context
    {
        public Context(DeviceMemory? memory, IReadOnlyList<object> known, bool allowDeviceObjects)
        {
            Memory = memory;
            Known = known;
            AllowDeviceObjects = allowDeviceObjects;
            KnownIndex = new Dictionary<object, int>(ReferenceEqualityComparer.Instance);
            for (int i = 0; i < known.Count; i++) KnownIndex.TryAdd(known[i], i);
        }

        public DeviceMemory? Memory { get; }
        public IReadOnlyList<object> Known { get; }
        public Dictionary<object, int> KnownIndex { get; }
        public bool AllowDeviceObjects { get; }
    }

    // Keys whose hash is the same in every process: primitives, enums, strings (a Dictionary's default string comparer is
    // the non-randomized one) and structs of those that declare their own hash (a record struct's combines its fields'
    // hashes without a seed; no driver type overrides it with HashCode). Not a struct using the runtime's default hash,
    // nor a value tuple: both go through HashCode, which is seeded per process, so saved buckets would not find their
    // keys after a restore in another process.
    private static bool IsHashStable(Type t) => HashStableCache.GetOrAdd(t, static type =>
    {
        if (type == typeof(string) || type.IsPrimitive || type.IsEnum) return true;
        if (!type.IsValueType || IsPointerLike(type)) return false;
        if (type.IsGenericType && type.Namespace == "System" && type.Name.StartsWith("ValueTuple", StringComparison.Ordinal)) return false;
        if (type.GetMethod(nameof(GetHashCode), Type.EmptyTypes)?.DeclaringType != type) return false;
        foreach (var f in Fields(type))
            if (!IsHashStable(f.FieldType)) return false;
        return true;
    });

    // The bound both sides apply to an array (elements not copied as bytes counted at 16 bytes each).
    private static bool ArrayFits(Type element, int length) => (long)length * Math.Max(RawSize(element), 16) <= MaxArrayBytes;

    private static bool IsHostSlot(FieldInfo f) => Array.IndexOf(HostSlotTypes, f.FieldType) >= 0 || Array.IndexOf(HostSlotFields, f) >= 0;

    private static bool IsSyncObject(object value) => value.GetType() == typeof(object) || value is Lock or SemaphoreSlim or ManualResetEventSlim;

    private static ref byte RawData(object box) => ref Unsafe.As<RawBox>(box).Data;

    // ---------------------------------------------------------------- writing

    /// <summary>Writes a graph. Throws <see cref="MachineStateException"/> for state the rules above do not cover.</summary>
    internal sealed class Writer(BinaryWriter w, Context ctx)
    {
        private readonly Dictionary<object, int> _ids = new(ReferenceEqualityComparer.Instance);
        // Synchronisation objects keep their identity too (a lock shared by several parts — the machine's kernel lock —
        // is one lock after a restore), in an id space of their own: they are rebuilt, never walked.
        private readonly Dictionary<object, int> _syncIds = new(ReferenceEqualityComparer.Instance);
        private readonly Dictionary<Type, int> _types = new();
        private readonly List<object> _objects = new();
        private readonly List<(int Parent, string Field)> _from = new(); // where each object was first referenced (messages)
        private int _current = -1;
        private string _field = "";

        /// <summary>The objects written, in id order (the known objects of a later block).</summary>
        public IReadOnlyList<object> Objects => _objects;

        public void WriteRoot(object root)
        {
            _field = root.GetType().Name;
            WriteReference(root, null);
            for (int i = 0; i < _objects.Count; i++)
            {
                _current = i;
                WriteBody(_objects[i]);
            }
        }

        private void WriteBody(object o)
        {
            var type = o.GetType();
            if (type.IsArray)
            {
                var array = (Array)o;
                var element = type.GetElementType()!;
                int size = RawSize(element);
                _field = "[]";
                if (size >= 0)
                    w.Write(MemoryMarshal.CreateReadOnlySpan(ref MemoryMarshal.GetArrayDataReference(array), checked(array.Length * size)));
                else if (IsPointerLike(element))
                    for (int i = 0; i < array.Length; i++) WritePointer(element, array.GetValue(i)!);
                else if (element.IsValueType)
                    for (int i = 0; i < array.Length; i++) WriteValue(element, array.GetValue(i)!);
                else
                    for (int i = 0; i < array.Length; i++) WriteReference(array.GetValue(i), null);
                return;
            }
            if (type.IsValueType) { WriteValue(type, o, boxed: true); return; }
            WriteFields(o);
        }

        private void WriteFields(object o)
        {
            foreach (var f in Fields(o.GetType()))
            {
                _field = f.Name;
                var t = f.FieldType;
                var value = f.GetValue(o);
                if (IsPointerLike(t)) WritePointer(t, value!);
                else if (t.IsValueType) WriteValue(t, value);
                else WriteReference(value, f);
            }
        }

        private void WriteValue(Type t, object? box, bool boxed = false)
        {
            if (!boxed && Nullable.GetUnderlyingType(t) is { } inner)
            {
                w.Write(box is not null);
                if (box is not null) WriteValue(inner, box);
                return;
            }
            int size = RawSize(t);
            if (size >= 0) { w.Write(MemoryMarshal.CreateReadOnlySpan(ref RawData(box!), size)); return; }
            WriteFields(box!);
        }

        private void WritePointer(Type t, object value)
        {
            ulong p = t.IsPointer ? (ulong)Pointer.Unbox(value) : t == typeof(IntPtr) ? (ulong)(nint)value : (ulong)(nuint)value;
            if (p == 0) { w.Write(PointerNull); return; }
            var memory = ctx.Memory;
            if (memory is not null)
            {
                ulong local = (ulong)memory.Local.Base;
                if (p - local < memory.Local.Length) { w.Write(PointerLocal); w.Write(p - local); return; }
                foreach (var range in memory.SystemRanges)
                {
                    ulong b = (ulong)range.Memory.Base;
                    if (p - b < range.Memory.Length) { w.Write(PointerSystem); w.Write(range.GuestPhysicalAddress + (p - b)); return; }
                }
            }
            throw Refuse($"a native pointer outside device memory ({t})");
        }

        private void WriteReference(object? value, FieldInfo? field)
        {
            if (field is not null && IsHostSlot(field)) { w.Write(TagHostSlot); return; }
            if (value is null) { w.Write(TagNull); return; }
            if (value is string s) { w.Write(TagString); w.Write(s); return; }
            if (ctx.KnownIndex.TryGetValue(value, out int known)) { w.Write(TagKnown); w.Write(known); return; }
            if (_ids.TryGetValue(value, out int id)) { w.Write(TagBackReference); w.Write(id); return; }
            if (value is Delegate d) { WriteDelegate(d); return; }
            if (IsSyncObject(value)) { WriteSync(value); return; }
            var type = value.GetType();
            Check(type, value);
            w.Write(TagObject);
            WriteType(type);
            if (value is Array array)
            {
                if (array.Rank != 1) throw Refuse($"a multi-dimensional array {Name(type)}");
                if (!ArrayFits(type.GetElementType()!, array.Length)) throw Refuse($"an array of {array.Length} {Name(type.GetElementType()!)}");
                w.Write(array.Length);
            }
            _ids[value] = _objects.Count;
            _objects.Add(value);
            _from.Add((_current, _field));
        }

        private void WriteType(Type type)
        {
            if (_types.TryGetValue(type, out int typeId)) { w.Write(typeId); return; }
            w.Write(_types.Count);
            w.Write(type.AssemblyQualifiedName!);
            _types[type] = _types.Count;
        }

        private void WriteDelegate(Delegate d)
        {
            var list = d.GetInvocationList();
            w.Write(TagDelegate);
            WriteType(d.GetType());
            w.Write(list.Length);
            foreach (var part in list)
            {
                var method = part.Method;
                if (method.IsGenericMethod || method.DeclaringType is null || !IsWalkedAssembly(method.DeclaringType.Assembly))
                    throw Refuse($"a delegate to {method.DeclaringType?.FullName}.{method.Name}");
                WriteType(method.DeclaringType);
                w.Write(method.MetadataToken);
                WriteReference(part.Target, null);
            }
        }

        private void WriteSync(object value)
        {
            if (_syncIds.TryGetValue(value, out int syncId)) { w.Write(TagSyncBackReference); w.Write(syncId); return; }
            _syncIds[value] = _syncIds.Count;
            w.Write(TagSync);
            switch (value)
            {
                case Lock l:
                    if (l.IsHeldByCurrentThread) throw Refuse("a lock held by the saving thread");
                    w.Write(SyncLock);
                    break;
                case SemaphoreSlim sem: w.Write(SyncSemaphore); w.Write(sem.CurrentCount); break;
                case ManualResetEventSlim ev: w.Write(SyncEvent); w.Write(ev.IsSet); w.Write(ev.SpinCount); break;
                default:
                    if (Monitor.IsEntered(value)) throw Refuse("a lock held by the saving thread");
                    w.Write(SyncMonitor);
                    break;
            }
        }

        private void Check(Type type, object value)
        {
            var core = type;
            while (core.HasElementType) core = core.GetElementType()!; // an array's elements are checked one by one
            var asm = core.Assembly;
            if (asm == DeviceAssembly)
            {
                // Device values (addresses, descriptors) and arrays are the driver's; a device object is known or refused.
                if (!core.IsValueType && core == type && !ctx.AllowDeviceObjects)
                    throw Refuse($"a device object {Name(type)} that is not the machine's device or one of its parts");
            }
            else if (!IsWalkedAssembly(asm)) throw Refuse($"an object of {Name(type)} ({asm.GetName().Name}), which is not the driver's");
            else if (asm != DriverAssembly && Array.IndexOf(WalkedNamespaces, core.Namespace) < 0)
                throw Refuse($"a {Name(type)}: of the framework only values, collections and strings are walked");
            if (value is Thread or Task or Stream or MemberInfo or WaitHandle or CancellationTokenSource)
                throw Refuse($"a {type.Name}");
            if (type.IsGenericType)
            {
                var def = type.GetGenericTypeDefinition();
                if (def == typeof(Dictionary<,>) || def == typeof(HashSet<>) || def == typeof(ConcurrentDictionary<,>))
                {
                    var key = type.GetGenericArguments()[0];
                    var comparer = type.GetProperty("Comparer")!.GetValue(value);
                    if (comparer is ReferenceEqualityComparer || !IsHashStable(key))
                        throw Refuse($"a {Name(type)} keyed by {Name(key)}, whose hash is not the same in another process");
                }
            }
        }

        private MachineStateException Refuse(string what)
        {
            var path = new List<string> { _field };
            for (int i = _current; i >= 0; i = _from[i].Parent)
                path.Add(i == 0 ? Name(_objects[0].GetType()) : $"{_from[i].Field}({Name(_objects[i].GetType())})");
            path.Reverse();
            return new MachineStateException($"the machine holds {what} at {string.Join(".", path)}: the save-state does not cover it (docs/embedding.md, \"Machine save-state\")");
        }
    }

    // "PriorityQueue<ValueTuple<MachineEvent, Int32>, ...>" rather than an assembly-qualified name, for messages.
    // Invariant: naming a type never throws, so a refusal is always the documented MachineStateException. A type nested
    // in a generic one (List<T>.Enumerator, a closure of a generic method) is generic without a '`' in its own name; the
    // substring up to a missing '`' threw ArgumentOutOfRangeException out of SaveState.
    private static string Name(Type t)
    {
        if (t.IsArray) return Name(t.GetElementType()!) + "[]";
        if (!t.IsGenericType) return t.Name;
        int arity = t.Name.IndexOf('`', StringComparison.Ordinal);
        return $"{(arity < 0 ? t.Name : t.Name[..arity])}<{string.Join(", ", t.GetGenericArguments().Select(Name))}>";
    }

    private static bool IsWalkedAssembly(Assembly asm) => Array.IndexOf(WalkedAssemblies, asm) >= 0 || asm == DeviceAssembly;

    // ---------------------------------------------------------------- reading

    /// <summary>Reads a graph written by <see cref="Writer"/>. Corrupt input throws <see cref="InvalidDataException"/>.</summary>
    internal sealed class Reader(BinaryReader r, Context ctx)
    {
        private readonly List<object> _objects = new();
        private readonly List<object> _syncs = new(); // TagSync objects in the order written (TagSyncBackReference ids)
        private readonly List<Type> _types = new();

        /// <summary>The objects read, in id order.</summary>
        public IReadOnlyList<object> Objects => _objects;

        public object ReadRoot()
        {
            var root = ReadReference(typeof(object)) ?? throw new InvalidDataException("no root object");
            for (int i = 0; i < _objects.Count; i++) ReadBody(_objects[i]);
            return root;
        }

        private void ReadBody(object o)
        {
            var type = o.GetType();
            if (type.IsArray)
            {
                var array = (Array)o;
                var element = type.GetElementType()!;
                int size = RawSize(element);
                if (size >= 0)
                    r.BaseStream.ReadExactly(MemoryMarshal.CreateSpan(ref MemoryMarshal.GetArrayDataReference(array), checked(array.Length * size)));
                else if (IsPointerLike(element))
                    for (int i = 0; i < array.Length; i++) array.SetValue(ReadPointer(element), i);
                else if (element.IsValueType)
                    for (int i = 0; i < array.Length; i++) array.SetValue(ReadValue(element), i);
                else
                    for (int i = 0; i < array.Length; i++) array.SetValue(ReadReference(element), i);
                return;
            }
            if (type.IsValueType)
            {
                int raw = RawSize(type);
                if (raw >= 0) r.BaseStream.ReadExactly(MemoryMarshal.CreateSpan(ref RawData(o), raw));
                else ReadFields(o); // the box itself: FieldInfo.SetValue on a box changes the box
                return;
            }
            ReadFields(o);
        }

        private void ReadFields(object o)
        {
            foreach (var f in Fields(o.GetType()))
            {
                var t = f.FieldType;
                object? value = IsPointerLike(t) ? ReadPointer(t) : t.IsValueType ? ReadValue(t) : ReadReference(t);
                f.SetValue(o, value);
            }
        }

        private object? ReadValue(Type t)
        {
            if (Nullable.GetUnderlyingType(t) is { } inner) return r.ReadBoolean() ? ReadValue(inner) : null;
            object box = RuntimeHelpers.GetUninitializedObject(t);
            int size = RawSize(t);
            if (size >= 0) r.BaseStream.ReadExactly(MemoryMarshal.CreateSpan(ref RawData(box), size));
            else ReadFields(box);
            return box;
        }

        private object ReadPointer(Type t)
        {
            byte kind = r.ReadByte();
            byte* p;
            switch (kind)
            {
                case PointerNull: p = null; break;
                case PointerLocal:
                {
                    var local = ctx.Memory?.Local ?? throw new InvalidDataException("a pointer in a block without device memory");
                    ulong offset = r.ReadUInt64();
                    if (offset >= local.Length) throw new InvalidDataException($"pointer offset 0x{offset:X} outside local memory");
                    p = local.Base + offset;
                    break;
                }
                case PointerSystem:
                {
                    ulong gpa = r.ReadUInt64();
                    p = null;
                    var memory = ctx.Memory ?? throw new InvalidDataException("a pointer in a block without device memory");
                    foreach (var range in memory.SystemRanges)
                        if (gpa - range.GuestPhysicalAddress < range.Memory.Length) { p = range.Memory.Base + (gpa - range.GuestPhysicalAddress); break; }
                    if (p == null) throw new InvalidDataException($"pointer to guest-physical 0x{gpa:X} outside system memory");
                    break;
                }
                default: throw new InvalidDataException($"pointer kind {kind}");
            }
            return t.IsPointer ? Pointer.Box(p, t) : t == typeof(IntPtr) ? (nint)p : (nuint)p;
        }

        private Type ReadType()
        {
            int typeId = r.ReadInt32();
            if ((uint)typeId < (uint)_types.Count) return _types[typeId];
            if (typeId != _types.Count) throw new InvalidDataException($"type id {typeId}");
            string name = r.ReadString();
            // Only the assemblies a writer walks are resolved: a corrupt or crafted stream names no other type.
            // Invariant: resolving a name loads no assembly the writer does not walk (the resolver answers only those), and a
            // malformed name is InvalidDataException like any other corruption, never FileLoadException.
            Type? resolved;
            try
            {
                resolved = Type.GetType(name, an => Array.Find(WalkedAssemblies, a => a.GetName().Name == an.Name)
                    ?? (an.Name == DeviceAssembly.GetName().Name ? DeviceAssembly : null), typeResolver: null, throwOnError: false);
            }
            catch (Exception e) when (e is ArgumentException or IOException or TypeLoadException or BadImageFormatException)
            {
                throw new InvalidDataException($"type name {name}: {e.Message}", e);
            }
            var type = resolved ?? throw new InvalidDataException($"unknown type {name}");
            var element = type;
            while (element.HasElementType) element = element.GetElementType()!;
            if (!IsWalkedAssembly(element.Assembly)) throw new InvalidDataException($"type {name} is not the driver's");
            _types.Add(type);
            return type;
        }

        private object? ReadReference(Type declared)
        {
            byte tag = r.ReadByte();
            switch (tag)
            {
                case TagNull:
                case TagHostSlot: return null;
                case TagString: return r.ReadString();
                case TagKnown:
                {
                    int i = r.ReadInt32();
                    return (uint)i < (uint)ctx.Known.Count ? ctx.Known[i] : throw new InvalidDataException($"known object {i}");
                }
                case TagBackReference:
                {
                    int id = r.ReadInt32();
                    return (uint)id < (uint)_objects.Count ? _objects[id] : throw new InvalidDataException($"object id {id}");
                }
                case TagDelegate: return ReadDelegate();
                case TagSync:
                {
                    byte kind = r.ReadByte();
                    object sync = kind switch
                    {
                        SyncMonitor => new object(),
#pragma warning disable CS9216 // boxed only to be stored by reflection into the Lock-typed field it came from
                        SyncLock => new Lock(),
#pragma warning restore CS9216
                        SyncSemaphore => new SemaphoreSlim(r.ReadInt32()),
                        SyncEvent => new ManualResetEventSlim(r.ReadBoolean(), r.ReadInt32()),
                        _ => throw new InvalidDataException($"synchronisation object kind {kind}"),
                    };
                    _syncs.Add(sync);
                    return sync;
                }
                case TagSyncBackReference:
                {
                    int id = r.ReadInt32();
                    if ((uint)id >= (uint)_syncs.Count) throw new InvalidDataException($"synchronisation object {id}");
                    return _syncs[id];
                }
                case TagObject: break;
                default: throw new InvalidDataException($"reference tag {tag}");
            }
            var type = ReadType();
            object o;
            if (type.IsArray)
            {
                int length = r.ReadInt32();
                if (length < 0 || !ArrayFits(type.GetElementType()!, length)) throw new InvalidDataException($"array length {length}");
                o = Array.CreateInstance(type.GetElementType()!, length);
            }
            else if (type.IsAbstract || type.IsInterface || type.ContainsGenericParameters) throw new InvalidDataException($"type {type} cannot have objects");
            else if (type.Assembly == DeviceAssembly && !type.IsValueType && !ctx.AllowDeviceObjects)
                throw new InvalidDataException($"a device object {type} in a driver block");
            else o = RuntimeHelpers.GetUninitializedObject(type);
            if (!declared.IsInstanceOfType(o)) throw new InvalidDataException($"a {type.Name} where a {declared.Name} was saved");
            _objects.Add(o);
            return o;
        }

        private Delegate ReadDelegate()
        {
            var type = ReadType();
            if (!typeof(Delegate).IsAssignableFrom(type)) throw new InvalidDataException($"{type} is not a delegate type");
            int n = r.ReadInt32();
            if (n <= 0 || n > 1024) throw new InvalidDataException($"delegate of {n} methods");
            Delegate? result = null;
            for (int i = 0; i < n; i++)
            {
                var declaring = ReadType();
                int token = r.ReadInt32();
                var method = declaring.GetMethods(BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
                    .FirstOrDefault(m => m.MetadataToken == token) ?? throw new InvalidDataException($"no method 0x{token:X} on {declaring}");
                object? target = ReadReference(typeof(object));
                Delegate part;
                try { part = Delegate.CreateDelegate(type, target, method); }
                catch (ArgumentException e) { throw new InvalidDataException($"delegate {type.Name} over {method.Name}: {e.Message}", e); }
                result = Delegate.Combine(result, part);
            }
            return result!;
        }
    }
}
