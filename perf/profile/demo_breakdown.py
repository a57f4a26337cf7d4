#!/usr/bin/env python3
"""Splits a sampled CPU profile of `coproc demo` into emulation and overhead (docs/performance.md goal 9).

Input: one or more speedscope files made from dotnet-trace thread-time traces, e.g.
  dotnet-trace collect --profile dotnet-sampled-thread-time -o demo.nettrace -- \
      dotnet tools/Coproc.Cli/bin/Release/net10.0/coproc.dll demo
  dotnet-trace convert demo.nettrace --format speedscope -o demo
  python3 perf/profile/demo_breakdown.py demo.speedscope.json

A sample is "emulation" when its stack holds a work executor or a copy/fill of emulated memory (EMULATION), "the rest
of the device" when it is otherwise inside Coprocessor.Step, and outside the device else. Samples outside the device
are grouped by the innermost frame that names one of GROUPS (report files, scenario set-up, exit, the machine's step
loop and scheduler, the scenario loop, the report's numbers; else start-up and the rest), and the largest leaves of the
outside samples are listed. Each file is one line of shares; the leaves are summed over all files.
"""
import collections
import json
import sys

EMULATION = ['WorkExecutor.Execute', 'Executor.Execute', 'GpuVirtualMemory.Copy', 'GpuVirtualMemory.Fill',
             'CommandProcessor.ExecuteCopy', 'CommandProcessor.ExecuteFill']
GROUPS = [
    ('report files', ['DemoReportRenderer', 'PerfettoTraceWriter', 'TimelineHtmlWriter', 'ChromeTraceWriter', 'WritePng',
                      'Spectre.Console']),
    ('scenario set-up', ['ScenarioExecution..ctor', 'VidSchScenarioRunner.Setup']),
    ('exit', ['Dispose()']),
    ('machine loop and scheduler', ['Machine.StepOnce', 'Machine.Run(', 'Machine.RunFor', 'VidSchScheduler', 'DeliverInterrupts']),
    ('scenario loop', ['ScenarioExecution.Execute', 'SubmitPlanned']),
    ('report numbers', ['ScenarioReportBuilder', 'FinishAudit']),
]


def stacks(path):
    d = json.load(open(path))
    frames = [f['name'] for f in d['shared']['frames']]
    weights = collections.Counter()
    for prof in d['profiles']:
        stack, last = [], None
        for ev in prof['events']:
            if last is not None and stack:
                weights[tuple(stack)] += ev['at'] - last
            last = ev['at']
            if ev['type'] == 'O':
                stack.append(ev['frame'])
            else:
                stack.pop()
    return frames, weights


def main(paths):
    leaves = collections.Counter()
    for path in paths:
        frames, weights = stacks(path)
        total = sum(weights.values()) or 1
        groups = collections.Counter()
        for st, w in weights.items():
            names = [frames[f] for f in st]
            if any(k in n for n in names for k in EMULATION):
                groups['emulation'] += w
                continue
            if any('Coprocessor.Step' in n for n in names):
                groups['the rest of the device'] += w
                continue
            group = 'start-up and the rest'
            for n in reversed(names):
                hit = [g for g, keys in GROUPS if any(k in n for k in keys)]
                if hit:
                    group = hit[0]
                    break
            groups[group] += w
            leaf = [n for n in names if n not in ('CPU_TIME', 'UNMANAGED_CODE_TIME')][-1]
            leaves[leaf.split('(')[0][-90:]] += 100 * w / total / len(paths)
        outside = total - groups['emulation'] - groups['the rest of the device']
        # The absolute time outside moves much less between runs than the share, which follows the emulation's speed
        # (docs/performance.md, "Goals 5 and 9 in the fifth session").
        print(f'{path}: {total:.0f} ms sampled; outside the work executors and copies '
              f'{100 * (outside + groups["the rest of the device"]) / total:.1f} % '
              f'= {outside + groups["the rest of the device"]:.0f} ms (outside the device {100 * outside / total:.1f} %)')
        for k, v in groups.most_common():
            print(f'  {100 * v / total:5.1f} %  {k}')
    print('largest leaves outside the device (mean share):')
    for k, v in leaves.most_common(15):
        print(f'  {v:5.2f} %  {k}')


if __name__ == '__main__':
    main(sys.argv[1:])
