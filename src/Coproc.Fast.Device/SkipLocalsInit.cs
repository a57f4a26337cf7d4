using System.Runtime.CompilerServices;

// The device's hot paths (packet decode/execute, translation, copies) run millions of times per second; none of
// them reads a local before writing it, so zero-initialising stack frames is pure overhead.
[module: SkipLocalsInit]
