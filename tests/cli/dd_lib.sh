# Crash-test helpers shared by test_directdata.sh (sqlite) and
# test_directdata_pg.sh (postgres). The caller defines: SW, SRC, T, H, U,
# WH (the warehouse compare.mjs reads), run INPUT (start direct_data),
# stats (the peer's /__peer/stats), fresh (empty store, home, warehouse
# and peer counters), ok/bad.
resume_all() {
  local id st tries=0
  id=$(sqlite3 "$H/state.db" "SELECT id FROM executions ORDER BY start_ms DESC LIMIT 1" 2>/dev/null)
  while [ $tries -lt 20 ]; do
    st=$(sqlite3 "$H/state.db" "SELECT status FROM executions WHERE id='$id'")
    [ "$st" = SUCCEEDED ] && return 0
    "$SW" resume "$id" --home "$H" --workflows "$SRC/workflows" --quiet >/dev/null 2>&1
    tries=$((tries + 1))
  done
  return 1
}
# verified: every part renamed into place (verified) as "name=downloads"
verified() {
  local f names=""
  for f in "$T"/store/*/parts/*; do
    [ -e "$f" ] || continue
    case $f in *.tmp) continue ;; esac
    f=$(basename "$f"); names="$names ${f/.tar.gz./.}"
  done
  [ -n "$names" ] || return 0
  stats | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);
    for (const k of process.argv.slice(1)) console.log(k + "=" + (j.downloads[k] || 0))})' $names
}
# redownloaded LIST: the parts of LIST (name=count) fetched again since
redownloaded() {
  local st; st=$(stats)
  echo "$st" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);
    console.log(process.argv.slice(1).filter(Boolean).filter(kv=>{const [k,v]=kv.split("=");return (j.downloads[k]||0)!==Number(v)}).join(" "))})' $1
}
# sweep LABEL MODEL INPUT [PRE_INPUT...]: for n = 1, 2, ... kill the run of
# INPUT (after the PRE_INPUTs completed) right after its n-th state-store
# commit, resume until SUCCEEDED, compare with MODEL, and check that no
# part verified before the kill was downloaded again; stop at the first n
# the run no longer reaches. STEP (env) > 1 samples every STEP-th point.
crash_bad=""; crash_points=0
sweep() {
  local label=$1 model=$2 input=$3 n=1 rc v again p; shift 3
  while :; do
    fresh
    for p in "$@"; do run "$p" >/dev/null 2>&1; done
    STEPWISE_FAULT=kill-after-commit:$n run "$input" >/dev/null 2>&1
    rc=$?
    [ $rc = 137 ] || break
    crash_points=$((crash_points + 1))
    v=$(verified)
    if ! resume_all; then crash_bad="$crash_bad $label@$n(resume)"
    else
      node "$SRC/tests/peers/vault/compare.mjs" "gen/expected/$model.json" "$WH" >/dev/null \
        || crash_bad="$crash_bad $label@$n(state)"
      again=$(redownloaded "$v")
      [ -z "$again" ] || crash_bad="$crash_bad $label@$n(verified part downloaded again: $again)"
    fi
    n=$((n + ${STEP:-1}))
  done
  [ $n -gt 1 ] || crash_bad="$crash_bad $label(never killed: rc $rc)"
}
