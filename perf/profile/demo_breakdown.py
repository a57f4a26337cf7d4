#!/usr/bin/env python3
"""Splits a sampled CPU profile of `coproc demo` into emulation and overhead (docs/performance.md goal 9).

Input: a speedscope file made from a dotnet-trace thread-time trace, e.g.
  dotnet-trace collect --profile dotnet-sampled-thread-time -o demo.nettrace -- \
      dotnet tools/Coproc.Cli/bin/Release/net10.0/coproc.dll demo
  dotnet-trace convert demo.nettrace --format speedscope -o demo
  python3 perf/profile/demo_breakdown.py demo.speedscope.json

A sample is "emulation" when its stack holds a work executor or a copy/fill of emulated memory (the frames in
EMULATION), "device, other" when it is otherwise inside Coprocessor.Step, and "outside the device" else; the last
group is listed by the deepest frame that matches one of OVERHEAD (else by its leaf frame).
"""
import collections
import json
import sys

EMULATION = ['WorkExecutor.Execute', 'GpuVirtualMemory.Copy', 'GpuVirtualMemory.Fill',
             'CommandProcessor.ExecuteCopy', 'CommandProcessor.ExecuteFill']
OVERHEAD = ['DemoReportRenderer', 'PerfettoTraceWriter', 'TimelineHtmlWriter', 'WritePng',
            'VidSchScenarioRunner.Setup', 'ResidencyManager.ClearMemory', 'CoprocMachine.StepOnce',
            'CoprocMachine.DeliverInterrupts', 'VidSchScheduler.Pump', 'ScenarioExecution.Execute',
            'ScenarioExecution.SubmitPlanned', 'Monitor.Enter', 'InitClassSlow', 'NativeMemory.Free']


def main(path):
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
    total = sum(weights.values()) or 1
    groups, outside = collections.Counter(), collections.Counter()
    for st, w in weights.items():
        names = [frames[f] for f in st]
        if any(k in n for n in names for k in EMULATION):
            groups['emulation (executors, copies, fills)'] += w
        elif any('Coprocessor.Step' in n for n in names):
            groups['device, other'] += w
        else:
            groups['outside the device'] += w
            label = names[-1][:70]
            for n in names:
                for k in OVERHEAD:
                    if k in n:
                        label = k
            outside[label] += w
    print(f'sampled time {total:.0f} {d["profiles"][0].get("unit", "")}')
    for k, v in groups.most_common():
        print(f'{100 * v / total:5.1f} %  {k}')
    print('outside the device:')
    for k, v in outside.most_common(20):
        print(f'{100 * v / total:5.1f} %    {k}')


if __name__ == '__main__':
    main(sys.argv[1])
