# Shared by the bench/run_* scripts (sourced, not run): find the stepwise
# binary, time `stepwise exec` around the whole process, run an ALS
# script, and format the JSON lines and ratios the scripts print.
# Callers set `set -uo pipefail` and cd to the repository root first.

# bench_find_stepwise NAME: sets $sw to $SW_STEPWISE, or builds with
# tools/build and uses $SW_BUILD_DIR/stepwise (default build/). Returns 1
# when there is no binary.
bench_find_stepwise() {
  local name=$1 dir=${SW_BUILD_DIR:-build} c
  sw=${SW_STEPWISE:-}
  if [ -z "$sw" ]; then
    tools/build >&2 || echo "$name: warning: tools/build exited non-zero" >&2
    # The CLI is build/stepwise; older CMake setups leave it in build/src/.
    for c in "$dir/stepwise" "$dir/src/stepwise"; do
      [ -x "$c" ] && { sw=$c; break; }
    done
  fi
  if [ -z "$sw" ] || [ ! -x "$sw" ]; then
    echo "$name: no stepwise binary (${sw:-$dir/stepwise}); build failed?" >&2
    return 1
  fi
}

# bench_exec_stepwise NAME DEF INPUT HOME: runs
#   $sw exec DEF --input INPUT --home HOME --json
# (INPUT is JSON text or @FILE) with date +%s.%N around the whole process
# (start-up, parsing and every SQLite checkpoint included). The output goes
# to HOME/out.json, the elapsed seconds to $bench_seconds. Returns 1 (and
# shows the error) when stepwise fails.
bench_exec_stepwise() {
  local name=$1 def=$2 input=$3 home=$4 t0 t1 rc
  t0=$(date +%s.%N)
  "$sw" exec "$def" --input "$input" --home "$home" --json \
    >"$home/out.json" 2>"$home/err.txt"
  rc=$?
  t1=$(date +%s.%N)
  bench_seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { s = b - a;
    if (s <= 0) s = 1e-9; printf "%.6f", s }')
  if [ $rc -ne 0 ]; then
    echo "$name: stepwise exec exited $rc:" >&2
    head -20 "$home/err.txt" "$home/out.json" >&2
    return 1
  fi
}

# bench_output_has HOME PATTERN: does HOME/out.json, blanks removed,
# contain PATTERN (a grep -E expression)? Warns when not.
bench_output_has() {
  local name=$1 home=$2 pattern=$3
  if ! tr -d ' \n\t' <"$home/out.json" | grep -qE "$pattern"; then
    echo "$name: warning: stepwise output does not match $pattern:" >&2
    head -c 400 "$home/out.json" >&2
    echo >&2
    return 1
  fi
}

# bench_rate_json ENGINE UNIT COUNT SECONDS [EXTRA]: one JSON line
#   {"engine":E,<EXTRA,>"<UNIT>":COUNT,"seconds":S,"<UNIT>_per_s":R}
# EXTRA is raw JSON members without braces (e.g. "\"n\":5").
bench_rate_json() {
  awk -v e="$1" -v u="$2" -v c="$3" -v s="$4" -v x="${5:-}" 'BEGIN {
    if (s <= 0) s = 1e-9;
    printf "{\"engine\":\"%s\",%s\"%s\":%d,\"seconds\":%.6f,\"%s_per_s\":%d}\n",
      e, (x == "" ? "" : x ","), u, c, s, u, c / s + 0.5 }'
}

# bench_rate FIELD JSON: the number in "FIELD":N of a JSON line.
bench_rate() {
  sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p" <<<"$2"
}

# bench_have_als NAME: is aws-local-stepfunctions installed?
bench_have_als() {
  if [ ! -d node_modules/aws-local-stepfunctions ]; then
    echo "$1: node_modules/aws-local-stepfunctions missing (npm ci)" >&2
    return 1
  fi
}
