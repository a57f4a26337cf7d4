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
named costs (the JIT, page faults, lock and clock calls) is listed.
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


if __name__ == '__main__':
    for p in sys.argv[1:]:
        main(p)
