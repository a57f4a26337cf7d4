using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Interrupts;
using static Coproc.Fast.Layout.ObjectLayout;

namespace Coproc.Fast.Device.Core;

// The object-graph block of a device save-state (native-layout.md §20.8, block "DEVS").
//
// Design: the device's state is spread over ~200 fields in ~40 classes (registers, engines' private save-area copies and
// work state, TLB entries, latched run lists, scheduling-core slots, the doorbell vector, the display latch, the interrupt
// queue, CYCLE). A hand-written save method per class would have to be kept in step with every later field by hand, and a
// forgotten field is a silent divergence after restore. Instead the block is the device's object graph, walked by
// reflection from the Coprocessor in a fixed order (fields of each type in metadata order, base type first): every
// instance field of every device-owned object is saved, so a field added later is covered without touching this file.
// The price is that the block's layout is the build's private field layout: a snapshot restores into the same build of
// Coproc.Fast.Device only (the header records the assembly's module version id).
//
// What is not walked (kept as the restoring device has it):
//   - the memories (DeviceMemory, NativeRegion) and the options: "known" objects, mapped to the restoring device's own;
//     their bytes are the LMEM / SMEM blocks;
//   - host objects: the IInterruptLine, IMsiTarget, IGuestRamWriteObserver, delegates, synchronisation objects (Lock, ManualResetEventSlim, ...) and any
//     object of an assembly other than the device, CoreLib and System.Collections;
//   - raw pointers: a pointer into local or system memory (a bound ring, the history buffer) is saved as (location,
//     offset) and rebased onto the restoring device's memory; any other pointer points into a pinned array of the same
//     object (the TLB entries), which is restored in place, so the restoring object's own pointer stays right.
// Objects are restored in place where the restoring device has an object of the same type at the same place (same-length
// arrays too, which keeps pinned arrays pinned), so the objects a host holds (Mmio, Aperture, Interrupts, ...) stay valid.
internal static unsafe class StateGraph
{
    private const byte TagNull = 0, TagBackReference = 1, TagKnown = 2, TagExternal = 3, TagObject = 4, TagString = 5;
    private const byte PointerNull = 0, PointerLocal = 1, PointerSystem = 2, PointerOwn = 3;

    private static readonly Assembly DeviceAssembly = typeof(StateGraph).Assembly;
    private static readonly Assembly CoreLib = typeof(object).Assembly;
    private static readonly Assembly CollectionsAssembly = typeof(Queue<int>).Assembly;

    private sealed class RawBox { public byte Data; }

    /// <summary>The regions pointers are rebased against, and the objects mapped rather than walked.</summary>
    internal readonly struct Context(Memory.DeviceMemory memory, object[] known)
    {
        public byte* LocalBase { get; } = memory.Local.Base;
        public ulong LocalLength { get; } = memory.Local.Length;
        /// <summary>System memory: a pointer into a guest-RAM range is saved as its guest-physical address.</summary>
        public Memory.DeviceMemory Memory { get; } = memory;
        public object[] Known { get; } = known;
    }

    private static bool IsHostSlot(Type declared) =>
        declared == typeof(IInterruptLine) || declared == typeof(Bus.IMsiTarget) || declared == typeof(Memory.IGuestRamWriteObserver)
        || typeof(Delegate).IsAssignableFrom(declared);

    private static bool IsExternal(object value, FieldInfo? field)
    {
        if (field is not null && IsHostSlot(field.FieldType)) return true;
        if (value is Delegate or Lock or ManualResetEventSlim or SemaphoreSlim or WaitHandle or Thread or MemberInfo
            or CancellationTokenSource) return true;
        var asm = value.GetType().Assembly;
        return asm != DeviceAssembly && asm != CoreLib && asm != CollectionsAssembly;
    }

    private static ref byte RawData(object box) => ref Unsafe.As<RawBox>(box).Data;

    // ---------------------------------------------------------------- writing

    internal sealed class Writer(BinaryWriter w, Context ctx)
    {
        private readonly Dictionary<object, int> _ids = new(ReferenceEqualityComparer.Instance);
        private readonly Dictionary<Type, int> _types = new();
        private int _nextId;

        /// <summary>Writes every field of <paramref name="root"/> (the root itself is not identity-tracked).</summary>
        public void WriteRoot(object root)
        {
            // The root is never given an id: references to it (a block holding its device) are known objects.
            WriteFields(root);
        }

        private void WriteFields(object o)
        {
            foreach (var f in Fields(o.GetType())) WriteField(f, f.GetValue(o));
        }

        private void WriteField(FieldInfo f, object? value)
        {
            var t = f.FieldType;
            if (IsPointerLike(t)) { WritePointer(t, value!); return; }
            if (t.IsValueType) { WriteValue(t, value); return; }
            WriteReference(value, f);
        }

        private void WriteValue(Type t, object? box)
        {
            if (Nullable.GetUnderlyingType(t) is { } inner)
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
            ulong local = (ulong)ctx.LocalBase;
            if (p == 0) w.Write(PointerNull);
            else if (p - local < ctx.LocalLength) { w.Write(PointerLocal); w.Write(p - local); }
            else if (ctx.Memory.TryGuestPhysicalOf((byte*)p, out ulong gpa)) { w.Write(PointerSystem); w.Write(gpa); }
            else w.Write(PointerOwn);
        }

        private void WriteReference(object? value, FieldInfo? field)
        {
            // A host-owned slot (the interrupt line, a callback) stays the restoring device's even when it is empty here.
            if (field is not null && IsHostSlot(field.FieldType)) { w.Write(TagExternal); return; }
            if (value is null) { w.Write(TagNull); return; }
            if (value is string s) { w.Write(TagString); w.Write(s); return; }
            int known = Array.IndexOf(ctx.Known, value);
            if (known >= 0) { w.Write(TagKnown); w.Write(known); return; }
            if (_ids.TryGetValue(value, out int id)) { w.Write(TagBackReference); w.Write(id); return; }
            if (IsExternal(value, field)) { w.Write(TagExternal); return; }
            var type = value.GetType();
            w.Write(TagObject);
            if (_types.TryGetValue(type, out int typeId)) w.Write(typeId);
            else
            {
                w.Write(_types.Count);
                w.Write(type.AssemblyQualifiedName!);
                _types[type] = _types.Count;
            }
            _ids[value] = _nextId++;
            if (type.IsArray)
            {
                var array = (Array)value;
                if (array.Rank != 1) throw new NotSupportedException($"multi-dimensional array {type} in device state");
                var element = type.GetElementType()!;
                w.Write(array.Length);
                int size = RawSize(element);
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
            if (type.IsValueType) { WriteValue(type, value); return; }
            WriteFields(value);
        }
    }

    // ---------------------------------------------------------------- reading

    internal sealed class Reader(BinaryReader r, Context ctx)
    {
        private readonly List<object> _objects = new();
        private readonly List<Type> _types = new();
        private readonly HashSet<object> _claimed = new(ReferenceEqualityComparer.Instance);

        /// <summary>Reads every field of <paramref name="root"/>, in place.</summary>
        public void ReadRoot(object root)
        {
            _claimed.Add(root);
            ReadFields(root);
        }

        private void ReadFields(object o)
        {
            foreach (var f in Fields(o.GetType())) ReadField(o, f);
        }

        private void ReadField(object o, FieldInfo f)
        {
            var t = f.FieldType;
            if (IsPointerLike(t))
            {
                if (ReadPointer(t, out object? p)) f.SetValue(o, p);
                return;
            }
            if (t.IsValueType) { f.SetValue(o, ReadValue(t, f.GetValue(o))); return; }
            f.SetValue(o, ReadReference(f.GetValue(o)));
        }

        private object? ReadValue(Type t, object? existingBox)
        {
            if (Nullable.GetUnderlyingType(t) is { } inner)
                return r.ReadBoolean() ? ReadValue(inner, existingBox ?? RuntimeHelpers.GetUninitializedObject(inner)) : null;
            existingBox ??= RuntimeHelpers.GetUninitializedObject(t);
            int size = RawSize(t);
            if (size >= 0)
            {
                object box = RuntimeHelpers.GetUninitializedObject(t);
                r.BaseStream.ReadExactly(MemoryMarshal.CreateSpan(ref RawData(box), size));
                return box;
            }
            ReadFields(existingBox); // existingBox is a boxed copy: filled, then stored back by the caller
            return existingBox;
        }

        // False: keep the restoring object's own pointer (it points into its own pinned array, restored in place).
        private bool ReadPointer(Type t, out object? value)
        {
            byte kind = r.ReadByte();
            byte* p;
            switch (kind)
            {
                case PointerNull: p = null; break;
                case PointerLocal: p = Rebase(ctx.LocalBase, ctx.LocalLength, r.ReadUInt64()); break;
                case PointerSystem:
                {
                    ulong gpa = r.ReadUInt64();
                    p = ctx.Memory.TryPointer(Coproc.Fast.Device.Memory.MemoryLocation.System, gpa, 1);
                    if (p == null) throw new InvalidDataException($"pointer to guest-physical 0x{gpa:X} outside system memory");
                    break;
                }
                case PointerOwn: value = null; return false;
                default: throw new InvalidDataException($"pointer kind {kind}");
            }
            value = t.IsPointer ? Pointer.Box(p, t) : t == typeof(IntPtr) ? (nint)p : (nuint)p;
            return true;
        }

        private static byte* Rebase(byte* b, ulong length, ulong offset) =>
            offset < length ? b + offset : throw new InvalidDataException($"pointer offset 0x{offset:X} outside memory");

        // Invariant: a save-state names only types of the assemblies the writer walks (this library, CoreLib, the
        // collections); a corrupt or crafted name neither loads another assembly (no module initializer of a file on the
        // probing path runs) nor surfaces as FileLoadException / TypeLoadException: it is InvalidDataException, which
        // RestoreState reports as DeviceStateException after resetting the device.
        private static Type ResolveType(string name)
        {
            Type? type;
            try
            {
                type = Type.GetType(name,
                    an => an.Name == DeviceAssembly.GetName().Name ? DeviceAssembly
                        : an.Name == CoreLib.GetName().Name ? CoreLib
                        : an.Name == CollectionsAssembly.GetName().Name ? CollectionsAssembly : null,
                    typeResolver: null, throwOnError: false);
            }
            catch (Exception e) when (e is ArgumentException or IOException or TypeLoadException or BadImageFormatException)
            {
                throw new InvalidDataException($"type name {name}: {e.Message}", e);
            }
            if (type is null) throw new InvalidDataException($"unknown type {name}");
            var element = type;
            while (element.HasElementType) element = element.GetElementType()!;
            if (element.Assembly != DeviceAssembly && element.Assembly != CoreLib && element.Assembly != CollectionsAssembly)
                throw new InvalidDataException($"type {name} is not the device's");
            return type;
        }

        private object? ReadReference(object? existing)
        {
            byte tag = r.ReadByte();
            switch (tag)
            {
                case TagNull: return null;
                case TagString: return r.ReadString();
                case TagKnown:
                {
                    int i = r.ReadInt32();
                    return (uint)i < (uint)ctx.Known.Length ? ctx.Known[i] : throw new InvalidDataException($"known object {i}");
                }
                case TagBackReference:
                {
                    int id = r.ReadInt32();
                    return (uint)id < (uint)_objects.Count ? _objects[id] : throw new InvalidDataException($"object id {id}");
                }
                case TagExternal: return existing;
                case TagObject: break;
                default: throw new InvalidDataException($"reference tag {tag}");
            }
            int typeId = r.ReadInt32();
            Type type;
            if (typeId == _types.Count)
            {
                string name = r.ReadString();
                type = ResolveType(name);
                _types.Add(type);
            }
            else if ((uint)typeId < (uint)_types.Count) type = _types[typeId];
            else throw new InvalidDataException($"type id {typeId}");
            if (type.IsArray)
            {
                int length = r.ReadInt32();
                if (length < 0) throw new InvalidDataException($"array length {length}");
                var element = type.GetElementType()!;
                Array array = existing is Array a && a.GetType() == type && a.Length == length && !_claimed.Contains(a)
                    ? a
                    : Array.CreateInstance(element, length);
                _claimed.Add(array);
                _objects.Add(array);
                int size = RawSize(element);
                if (size >= 0)
                    r.BaseStream.ReadExactly(MemoryMarshal.CreateSpan(ref MemoryMarshal.GetArrayDataReference(array), checked(length * size)));
                else if (IsPointerLike(element))
                    for (int i = 0; i < length; i++) { if (ReadPointer(element, out var p)) array.SetValue(p, i); }
                else if (element.IsValueType)
                    for (int i = 0; i < length; i++) array.SetValue(ReadValue(element, array.GetValue(i)), i);
                else
                    for (int i = 0; i < length; i++) array.SetValue(ReadReference(array.GetValue(i)), i);
                return array;
            }
            if (type.IsValueType)
            {
                object box = RuntimeHelpers.GetUninitializedObject(type);
                _objects.Add(box);
                int raw = RawSize(type);
                if (raw >= 0) r.BaseStream.ReadExactly(MemoryMarshal.CreateSpan(ref RawData(box), raw));
                else ReadFields(box);
                return box;
            }
            object target = existing is not null && existing.GetType() == type && !_claimed.Contains(existing)
                ? existing
                : RuntimeHelpers.GetUninitializedObject(type);
            _claimed.Add(target);
            _objects.Add(target);
            ReadFields(target);
            return target;
        }
    }
}
