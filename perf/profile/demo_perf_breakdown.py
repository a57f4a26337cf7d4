#!/usr/bin/env python3
"""Splits a Linux `perf` CPU profile of `coproc demo` into emulation and overhead (docs/performance.md goal 9).

The dotnet-trace profile of demo_breakdown.py is the goal's figure, but its sampler stops a thread at the thread's next
safe point (a call's return, a GC poll after a clock read, a lock's slow path), so single frames there stand for time
spent before them, and it also counts time a thread waits for the CPU. `perf` samples the CPU where it is; with the
runtime's perf map it names JIT-compiled methods, and frames in libclrjit are the JIT compiling. Input:

  DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 perf record -F 2000 -g -o demo.perf.data \\
      dotnet tools/Coproc.Cli/bin/Release/net10.0/coproc.dll demo
  perf script -i demo.perf.data -F tid,ip,sym,dso > demo.perf.txt
  python3 perf/profile/demo_perf_breakdown.py demo.perf.txt

Only the main thread (the lowest thread id) is counted: the demo runs there; the other busy thread is the runtime's
background compiler. A sample is emulation when its stack holds a work executor or a copy/fill of emulated memory, the
rest of the device when it is otherwise inside Coprocessor.Step, else it is put in the group of its innermost frame
that names one (as demo_breakdown.py does), with "[JIT]" when the JIT was compiling. Then the on-CPU share of a few
named costs (the JIT, page faults, lock and clock calls) is listed, then the time outside the executors and copies split
by cause (CAUSES: the first that matches a sample's stack), and each busy thread's on-CPU time and the JIT's part of it
(the runtime's background compiler is the second busy thread: tier-1 recompilation happens there, not on the main one).

`perf` names only JIT-compiled methods (the perf map); code precompiled by ReadyToRun shows as "[unknown]" in its
assembly's file, so a ReadyToRun publish is split correctly only where its emulation code is JIT-compiled (the executors'
Vector256 methods are; run demo_breakdown.py on a dotnet-trace profile for the rest).
"""
import collections
import re
import sys

EMULATION = ['WorkExecutor', 'Executor::Execute', 'GpuVirtualMemory::Copy', 'GpuVirtualMemory::Fill',
             'CommandProcessor::ExecuteCopy', 'CommandProcessor::ExecuteFill']
GROUPS = [
    ('report files', ['DemoReportRenderer', 'PerfettoTraceWriter', 'TimelineHtmlWriter', 'ChromeTraceWriter', 'WritePng',
                      'Spectre.Console']),
    ('scenario set-up', ['ScenarioExecution::.ctor', 'VidSchScenarioRunner::Setup']),
    ('exit', ['::Dispose']),
    ('machine loop and scheduler', ['Machine::StepOnce', 'Machine::Run(', 'Machine::RunFor', 'VidSchScheduler',
                                    'DeliverInterrupts']),
    ('scenario loop', ['ScenarioExecution::Execute', 'SubmitPlanned']),
    ('report numbers', ['ScenarioReportBuilder', 'FinishAudit']),
]
NAMED = ['libclrjit', 'exc_page_fault', '__memset', '__munmap', 'Monitor', 'clock_gettime']
# Causes of time outside the executors and copies, first match wins (keys are looked for in the whole stack).
CAUSES = [
    ('the JIT (first calls and loop transitions on this thread)', ['libclrjit']),
    ('page faults (first touch of new memory)', ['exc_page_fault']),
    ('freeing memory (munmap, at exit)', ['__munmap']),
    ('report files and console table', ['DemoReportRenderer', 'PerfettoTraceWriter', 'TimelineHtmlWriter',
                                        'ChromeTraceWriter', 'WritePng', 'Spectre.Console']),
    ('device outside the executors (Coprocessor.Step)', ['Coprocessor::Step']),
    ('machine loop, schedulers, interrupts, VidMm', ['Machine::StepOnce', 'Machine::Run(', 'Machine::RunFor',
                                                     'VidSchScheduler', 'DeliverInterrupts', 'ResidencyManager']),
    ('scenario set-up and loop', ['ScenarioExecution', 'VidSchScenarioRunner', 'ScenarioLoader']),
]
FRAME = re.compile(r'\s*[0-9a-f]+ (.*) \((.*)\)$')


def samples(path):
    current = None
    with open(path) as f:
        for line in f:
            line = line.rstrip('\n')
            if not line:
                if current:
                    yield current
                current = None
            elif not line.startswith('\t'):
                current = (int(line.split()[0]), [])
            elif current is not None:
                m = FRAME.match(line)
                if m:
                    current[1].append(m.group(1) + ' [' + m.group(2).split('/')[-1] + ']')
    if current:
        yield current


def main(path):
    everything = list(samples(path))
    main_tid = min(tid for tid, _ in everything)
    stacks = [frames for tid, frames in everything if tid == main_tid]
    total = len(stacks) or 1
    groups, named = collections.Counter(), collections.Counter()
    for frames in stacks:
        joined = ' '.join(frames)
        named.update(k for k in NAMED if k in joined)
        if any(k in joined for k in EMULATION):
            groups['emulation'] += 1
            continue
        if 'Coprocessor::Step' in joined:
            groups['the rest of the device'] += 1
            continue
        group = 'start-up, runtime and the rest'
        for frame in frames:  # innermost first
            hit = [g for g, keys in GROUPS if any(k in frame for k in keys)]
            if hit:
                group = hit[0]
                break
        groups[group + (' [JIT]' if 'libclrjit' in joined else '')] += 1
    outside = total - groups['emulation']
    print(f'{path}: {total} samples of the main thread; outside the work executors and copies {100 * outside / total:.1f} %')
    for k, v in groups.most_common():
        print(f'  {100 * v / total:5.1f} %  {k}')
    print('named costs, anywhere on the main thread:')
    for k in NAMED:
        print(f'  {100 * named[k] / total:5.2f} %  {k}')
    causes = collections.Counter()
    for frames in stacks:
        joined = ' '.join(frames)
        if any(k in joined for k in EMULATION):
            continue
        hit = [c for c, keys in CAUSES if any(k in joined for k in keys)]
        if hit and hit[0] in [c for c, _ in CAUSES[:3]]:
            causes[hit[0]] += 1
        elif frames and '[libcoreclr.so]' in frames[0]:  # innermost frame in the runtime, outside the JIT
            causes['the runtime itself (type loading, stubs, GC; not the JIT)'] += 1
        elif hit:
            causes[hit[0]] += 1
        else:
            causes['the rest (start-up, command line, native libraries)'] += 1
    print('outside the executors and copies, by cause (share of the main thread):')
    for k, v in causes.most_common():
        print(f'  {100 * v / total:5.1f} %  {k}')
    busy, jit = collections.Counter(), collections.Counter()
    for tid, frames in everything:
        busy[tid] += 1
        jit[tid] += any('libclrjit' in f for f in frames)
    print('busy threads (samples; of them in the JIT):')
    for tid, n in busy.most_common(3):
        print(f'  {tid}{" (main)" if tid == main_tid else ""}: {n} samples, {jit[tid]} in the JIT')


if __name__ == '__main__':
    for p in sys.argv[1:]:
        main(p)
