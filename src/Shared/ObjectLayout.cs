using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace Coproc.Fast.Layout;

/// <summary>
/// The field layout both save-state graph writers walk (the device's, Device/Core/StateGraph.cs; the machine's,
/// Driver/Machine/MachineStateGraph.cs): one source file compiled into both assemblies, so the two formats agree on
/// field order and on which values are copied as raw bytes.
/// </summary>
internal static class ObjectLayout
{
    private static readonly ConcurrentDictionary<Type, FieldInfo[]> FieldsCache = new();
    private static readonly ConcurrentDictionary<Type, int> RawSizeCache = new();

    /// <summary>Every instance field of <paramref name="t"/>, base type first, each type's in metadata order.</summary>
    public static FieldInfo[] Fields(Type t) => FieldsCache.GetOrAdd(t, static type =>
    {
        var chain = new List<Type>();
        for (var c = type; c is not null && c != typeof(object) && c != typeof(ValueType); c = c.BaseType) chain.Add(c);
        chain.Reverse();
        var list = new List<FieldInfo>();
        foreach (var c in chain)
            list.AddRange(c.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
                .OrderBy(f => f.MetadataToken));
        return list.ToArray();
    });

    /// <summary>A pointer, a native-sized integer or a function pointer (rebased or refused, never copied).</summary>
    public static bool IsPointerLike(Type t) => t.IsPointer || t == typeof(IntPtr) || t == typeof(UIntPtr) || t.IsFunctionPointer;

    /// <summary>
    /// The size of <paramref name="t"/> when it is unmanaged, free of pointers and of padding — copied as bytes; −1: written
    /// field by field. Padding is excluded so a save-state is a function of the state (two equal objects give equal bytes).
    /// </summary>
    public static int RawSize(Type t) => RawSizeCache.GetOrAdd(t, static type =>
    {
        if (!type.IsValueType || IsPointerLike(type)) return -1;
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Nullable<>)) return -1;
        int size = (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type).Invoke(null, null)!;
        if (!type.IsPrimitive && !type.IsEnum)
        {
            int sum = 0;
            foreach (var f in Fields(type))
            {
                int fieldSize = RawSize(f.FieldType);
                if (fieldSize < 0) return -1;
                sum += fieldSize;
            }
            if (sum != size) return -1;
        }
        return size;
    });
}
