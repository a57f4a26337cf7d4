#!/usr/bin/env bash
# Coverage-guided fuzzing with AFL++ and SharpFuzz (docs/reliability.md):
#   fuzz/run-afl.sh <packet-decoder|kmd-validator|mmio|all> [seconds per target, default 300]
# Publishes fuzz/Coproc.Fast.Fuzz, instruments Coproc.Fast.Device.dll and Coproc.Fast.Driver.dll with the
# SharpFuzz.CommandLine tool (installed into fuzz/.out/tools on first use), runs afl-fuzz from the seed corpus
# fuzz/corpus/<target> for the given time, then prints the figures and replays every crash it kept
# (fuzz/.out/findings/<target>/default/crashes). Needs afl-fuzz on PATH (Debian: apt-get install afl++).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(packet-decoder kmd-validator mmio)
which=${1:?usage: fuzz/run-afl.sh <packet-decoder|kmd-validator|mmio|all> [seconds]}
seconds=${2:-300}
[[ $which == all ]] || targets=("$which")
command -v afl-fuzz >/dev/null || { echo "run-afl: afl-fuzz is required (Debian: apt-get install afl++)" >&2; exit 2; }

out=fuzz/.out
tools=$out/tools
bin=$out/bin
[[ -x $tools/sharpfuzz ]] || dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$tools" >/dev/null
rm -rf "$bin"
dotnet publish fuzz/Coproc.Fast.Fuzz -c Release -o "$bin" --nologo -v q >/dev/null
for dll in Coproc.Fast.Device.dll Coproc.Fast.Driver.dll; do "$tools/sharpfuzz" "$bin/$dll"; done

status=0
for target in "${targets[@]}"; do
  findings=$out/findings/$target
  rm -rf "$findings"; mkdir -p "$out/findings"
  echo "run-afl: $target for ${seconds}s"
  AFL_SKIP_BIN_CHECK=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 \
    afl-fuzz -V "$seconds" -t 5000 -m none -i "fuzz/corpus/$target" -o "$findings" -- "$bin/coproc-fuzz" target "$target" >"$out/$target.log" 2>&1 || true
  stats=$findings/default/fuzzer_stats
  if [[ ! -f $stats ]]; then echo "run-afl: afl-fuzz did not start; see $out/$target.log" >&2; tail -20 "$out/$target.log" >&2; status=1; continue; fi
  get() { grep -E "^$1 +:" "$stats" | sed -E 's/^[^:]+: *//'; }
  echo "run-afl: $target: $(get execs_done) executions, $(get corpus_count) corpus entries, edges $(get edges_found)/$(get total_edges), $(get saved_crashes) crashes, $(get saved_hangs) hangs, $(get run_time) s"
  crashes=$(find "$findings/default/crashes" -type f -name 'id:*' 2>/dev/null | sort)
  if [[ -n $crashes ]]; then
    status=1
    # shellcheck disable=SC2086
    # replay with the uninstrumented build: instrumented code writes to AFL's shared map, which exists only under afl-fuzz
    dotnet build fuzz/Coproc.Fast.Fuzz -c Release --nologo -v q >/dev/null
    fuzz/Coproc.Fast.Fuzz/bin/Release/net10.0/coproc-fuzz replay "$target" $crashes || true
  fi
done
exit $status
