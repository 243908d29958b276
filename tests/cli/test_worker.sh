#!/usr/bin/env bash
# stepwise worker against the Step Functions activity peer
# (tests/peers/sfn/server.mjs: SigV4 checked with @smithy/signature-v4,
# bodies checked against botocore's stepfunctions model, real long polls,
# heartbeat and task timeouts).
#   - 200 tasks across two workers, one SIGKILLed mid-task and restarted:
#     every task gets exactly one accepted SendTaskSuccess, right output;
#   - a worker that stops heartbeating loses its task; its late result is
#     refused (TaskTimedOut) and the worker carries on;
#   - throttling, 5xx and connection resets: no task lost, none twice;
#   - SIGTERM drains and exits 0; SIGINT twice exits at once, the restart
#     finishes the tasks.
# Exit: 0 pass, 1 fail, 77 skip (node_modules missing: npm ci).
. "$(dirname "$0")/lib.sh"
cd "$SRC"
if [ ! -d node_modules/@smithy/signature-v4 ] || ! command -v node >/dev/null ||
   ! command -v curl >/dev/null; then
  echo "SKIP: node, curl or node_modules/@smithy/signature-v4 missing (npm ci in $SRC)"
  exit 77
fi

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT

node tests/peers/sfn/server.mjs --activity stepwise.workflow.run \
  --log "$T/peer.log" >"$T/peer.out" 2>"$T/peer.err" &
PIDS+=($!)
for _ in $(seq 50); do grep -q listening "$T/peer.out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^listening //p' "$T/peer.out")
[ -n "$URL" ] || { bad "peer did not start"; cat "$T/peer.err"; finish; exit 1; }
ARN=arn:aws:states:us-east-1:123456789012:activity:stepwise.workflow.run
export AWS_ACCESS_KEY_ID=AKIDSTEPWISETEST AWS_SECRET_ACCESS_KEY=stepwise-test-secret
export AWS_ENDPOINT_URL_SFN=$URL AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE

mkdir -p "$T/wf"
# echo: a Wait (so the work is in flight for a while) then a Pass.
cat >"$T/wf/echo.asl.json" <<'EOF'
{"StartAt": "W", "States": {
  "W": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "P"},
  "P": {"Type": "Pass", "Parameters": {"n.$": "$.n", "done": true}, "End": true}}}
EOF

enqueue() { curl -s -XPOST "$URL/__peer/enqueue" -d "$1"; }
fault() { curl -s -XPOST "$URL/__peer/fault" -d "$1" >/dev/null; }
tasks() { curl -s "$URL/__peer/tasks"; }
# inputs FROM TO WAIT: JSON array of workflow.run inputs
inputs() {
  node -e 'const [a,b,w]=process.argv.slice(1).map(Number);
    const r=[];for(let i=a;i<=b;i++)r.push({workflow:"echo",input:{n:i,wait:w}});
    process.stdout.write(JSON.stringify(r))' "$1" "$2" "$3"
}
# worker NAME HOME [ARGS...]: start a worker in the background
worker() {
  local name=$1 home=$2; shift 2
  "$SW" worker --activity "$ARN" --home "$home" --workflows "$T/wf" "$@" \
    >>"$T/$name.out" 2>>"$T/$name.err" &
  LAST=$!
  PIDS+=($LAST)
}
# wait_closed N SECONDS: until N tasks of the peer are closed
wait_closed() {
  local want=$1 secs=$2 n
  for _ in $(seq $((secs * 10))); do
    n=$(tasks | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
      console.log(JSON.parse(s).filter(t=>t.status!=="QUEUED"&&t.status!=="STARTED").length)})')
    [ "$n" -ge "$want" ] && return 0
    sleep 0.1
  done
  return 1
}
# check_tasks FROM_ID TO_ID: each task t<i> SUCCEEDED once with the
# output {"n": input n, "done": true}, delivered once.
check_tasks() {
  tasks | node -e '
    const [from,to]=process.argv.slice(1);
    let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
      const all=JSON.parse(s), bad=[];
      for (let i=+from;i<=+to;i++) {
        const t=all.find(x=>x.id==="t"+i);
        if(!t){bad.push("t"+i+" missing");continue;}
        const n=JSON.parse(t.input).input.n;
        const want=JSON.stringify({n,done:true});
        if(t.status!=="SUCCEEDED") bad.push(`${t.id} ${t.status} ${t.error||""} ${t.cause||""}`);
        else if(t.output!==want) bad.push(`${t.id} output ${t.output} != ${want}`);
        if(t.successAccepted!==1) bad.push(`${t.id} accepted ${t.successAccepted} successes`);
        if(t.deliveries!==1) bad.push(`${t.id} delivered ${t.deliveries} times`);
      }
      if(bad.length){console.log(bad.slice(0,10).join("\n"));process.exit(1);}
    })' "$1" "$2"
}

# ---- usage ------------------------------------------------------------------
expect_exit 2 "worker without --activity is a usage error" -- "$SW" worker --home "$T/u"
expect_err "needs at least one --activity" "usage error names --activity"
expect_exit 2 "an activity that is not a built-in is refused" -- \
  "$SW" worker --home "$T/u" --activity arn:aws:states:us-east-1:1:activity:nope
expect_err "not a stepwise built-in" "the error names the activity"
expect_exit 0 "worker --help" -- "$SW" worker --help

# ---- 200 tasks, two workers, one killed mid-task ------------------------------
# The kill comes once the peer has handed out every queued task, while
# worker A still runs its last ones (2 s Waits): a token in a poll response
# that a killed worker never read is lost on AWS too (HeartbeatSeconds and
# Retry on States.Timeout exist for that), so the test does not kill
# inside that window; it proves that what a worker accepted survives.
queued() {
  curl -s "$URL/__peer/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).queued))'
}
# Worker A alone takes the first 100, so the last ones it was handed are
# surely in flight when it is killed (B starts after the kill).
enqueue "{\"activityArn\":\"$ARN\",\"heartbeatSeconds\":10,\"inputs\":$(inputs 1 100 2)}" >/dev/null
worker A "$T/hA" --concurrency 32 --heartbeat-seconds 10 --worker-name A
A=$LAST
for _ in $(seq 600); do [ "$(queued)" = 0 ] && break; sleep 0.05; done
sleep 0.3
kill -9 $A
wait $A 2>/dev/null
inflight=$(sqlite3 "$T/hA/worker.db" "SELECT count(*) FROM worker_tasks" 2>&1)
if [ "${inflight:-0}" -gt 0 ] 2>/dev/null; then ok "worker A killed with $inflight tasks checkpointed"
else bad "worker A had no task in flight when killed ($inflight)"; fi
worker B "$T/hB" --concurrency 16 --heartbeat-seconds 10 --worker-name B
B=$LAST
worker A2 "$T/hA" --concurrency 16 --heartbeat-seconds 10 --worker-name A
A=$LAST
enqueue "{\"activityArn\":\"$ARN\",\"heartbeatSeconds\":10,\"inputs\":$(inputs 101 200 1)}" >/dev/null
if wait_closed 200 60; then ok "all 200 tasks closed"; else bad "tasks still open after 60 s"; fi
if out=$(check_tasks 1 200); then ok "200 tasks: one accepted SendTaskSuccess each, right output, delivered once"
else bad "200 tasks: $out"; fi
kill -TERM $A $B
wait $A; ra=$?
wait $B; rb=$?
[ "$ra$rb" = 00 ] && ok "SIGTERM: both workers drain and exit 0" || bad "SIGTERM exits: $ra $rb"
grep -qE 'resumed [1-9]' "$T/A2.err" && ok "the restarted worker resumed its checkpointed tasks" ||
  { bad "restarted worker resumed nothing"; tail -3 "$T/A2.err"; }
n=$(sqlite3 "$T/hA/worker.db" "SELECT count(*) FROM worker_tasks")
[ "$n" = 0 ] && ok "worker.db is empty once everything is reported" || bad "$n rows left in worker.db"
ran=$(sqlite3 "$T/hA/state.db" "SELECT count(*) FROM executions" 2>&1)
ranb=$(sqlite3 "$T/hB/state.db" "SELECT count(*) FROM executions" 2>&1)
[ $((ran + ranb)) = 200 ] && ok "exactly 200 executions ran ($ran + $ranb)" ||
  bad "$ran + $ranb executions for 200 tasks"

# ---- heartbeat timeout ---------------------------------------------------------
# (a) A worker that never heartbeats in time: the task times out on the
# peer after 1 s; the result at 2 s is refused; the worker carries on.
worker H "$T/hH" --concurrency 2 --heartbeat-seconds 600
H=$LAST
enqueue "{\"activityArn\":\"$ARN\",\"heartbeatSeconds\":1,\"inputs\":$(inputs 1 1 2)}" >/dev/null
sleep 3
enqueue "{\"activityArn\":\"$ARN\",\"heartbeatSeconds\":30,\"inputs\":$(inputs 7 7 0)}" >/dev/null
sleep 1
tasks | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
  const a=JSON.parse(s), t=a[200], u=a[201];
  process.exit(t.status==="TIMED_OUT"&&t.resultsRejected>=1&&t.successAccepted===0&&
    u.status==="SUCCEEDED"?0:1)})' &&
  ok "heartbeat lapse: task TIMED_OUT, late result refused, next task served" ||
  { bad "heartbeat lapse"; tasks | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).slice(200)))'; }
kill -0 $H 2>/dev/null && ok "the worker survived the refused result" || bad "worker H died"
grep -q 'is closed (TaskTimedOut' "$T/H.err" && ok "the worker logs the closed task" || bad "no log of the closed task"
grep -q 'AAAA' "$T/H.err" && bad "a task token reached the log" || ok "no task token in the log"
kill -TERM $H; wait $H

# (b) A worker frozen (SIGSTOP) past the heartbeat: on waking, its next
# heartbeat gets TaskTimedOut and the workflow execution is stopped.
worker F "$T/hF" --concurrency 1 --heartbeat-seconds 1
F=$LAST
sleep 0.3
enqueue "{\"activityArn\":\"$ARN\",\"heartbeatSeconds\":1,\"inputs\":$(inputs 1 1 30)}" >/dev/null
sleep 0.6
kill -STOP $F; sleep 1.8; kill -CONT $F
sleep 1
st=$(sqlite3 "$T/hF/state.db" "SELECT status FROM executions" 2>&1)
[ "$st" = ABORTED ] && ok "a lost task stops its workflow execution (ABORTED)" || bad "execution is $st"
kill -TERM $F; wait $F; rf=$?
[ $rf = 0 ] && ok "worker F exits 0" || bad "worker F exit $rf"

# ---- throttling, 5xx and resets ---------------------------------------------------
fault '{"kind":"throttle","count":15,"action":"GetActivityTask"}'
fault '{"kind":"500","count":5,"action":"GetActivityTask"}'
fault '{"kind":"500","count":6,"action":"SendTaskSuccess"}'
fault '{"kind":"throttle","count":4,"action":"SendTaskSuccess"}'
fault '{"kind":"500","count":3,"action":"SendTaskSuccess","after":true}'
fault '{"kind":"reset","count":3,"action":"SendTaskSuccess"}'
fault '{"kind":"500","count":5,"action":"SendTaskHeartbeat"}'
base=$(tasks | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).length))')
enqueue "{\"activityArn\":\"$ARN\",\"heartbeatSeconds\":20,\"inputs\":$(inputs 1 40 0)}" >/dev/null
worker R "$T/hR" --concurrency 8 --heartbeat-seconds 0.6
R=$LAST
if wait_closed $((base + 40)) 40; then ok "faults: all 40 tasks closed"; else bad "faults: tasks still open"; fi
if out=$(check_tasks $((base + 1)) $((base + 40))); then ok "faults: no task lost, none done twice"
else bad "faults: $out"; fi
kill -TERM $R; wait $R
grep -qE 'retries [1-9]' "$T/R.err" &&
  ok "faults: the worker retried" || { bad "no retries counted"; tail -3 "$T/R.err"; }
curl -s "$URL/__peer/stats" | grep -q '"fault.throttle"' && ok "faults were injected" || bad "no faults injected"

# ---- output over 256 KiB: a clear SendTaskFailure ---------------------------------
echo '{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}' >"$T/wf/pass.asl.json"
worker O "$T/hO" --concurrency 1
O=$LAST
node -e 'process.stdout.write(JSON.stringify({activityArn:process.argv[1],heartbeatSeconds:20,
  inputs:[{workflow:"pass",input:{s:"x".repeat(300000)}}]}))' "$ARN" |
  curl -s -XPOST "$URL/__peer/enqueue" -d @- >/dev/null
for _ in $(seq 50); do
  big=$(tasks | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
    const t=JSON.parse(s).find(x=>x.input.length>300000);console.log(t.status+" "+t.error)})')
  [ "${big%% *}" = FAILED ] && break; sleep 0.1
done
[ "$big" = "FAILED States.DataLimitExceeded" ] && ok "output over 256 KiB fails with States.DataLimitExceeded" ||
  bad "big output: $big"
kill -TERM $O; wait $O

# ---- SIGTERM with work in flight; SIGINT twice -------------------------------------
worker D "$T/hD" --concurrency 4
D=$LAST
enqueue "{\"activityArn\":\"$ARN\",\"heartbeatSeconds\":20,\"inputs\":$(inputs 1001 1004 1)}" >/dev/null
sleep 0.4
kill -TERM $D; wait $D; rd=$?
[ $rd = 0 ] && ok "SIGTERM drain exits 0" || bad "SIGTERM drain exit $rd"
n=$(tasks | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).filter(t=>JSON.parse(t.input).input.n>1000&&t.status==="SUCCEEDED").length))')
[ "$n" = 4 ] && ok "drain finished the 4 tasks in flight" || bad "drain finished $n of 4"

worker I "$T/hI" --concurrency 4
I=$LAST
enqueue "{\"activityArn\":\"$ARN\",\"heartbeatSeconds\":20,\"inputs\":$(inputs 2001 2003 1)}" >/dev/null
sleep 0.4
kill -INT $I; sleep 0.1; kill -INT $I; wait $I; ri=$?
[ $ri = 130 ] && ok "SIGINT twice exits at once (130)" || bad "SIGINT twice exit $ri"
worker I2 "$T/hI" --concurrency 4
I=$LAST
for _ in $(seq 50); do
  n=$(tasks | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).filter(t=>JSON.parse(t.input).input.n>2000&&t.status==="SUCCEEDED"&&t.successAccepted===1).length))')
  [ "$n" = 3 ] && break; sleep 0.1
done
[ "$n" = 3 ] && ok "after SIGINT twice the restart reports the 3 tasks" || bad "restart reported $n of 3"
kill -TERM $I; wait $I

bad_sig=$(curl -s "$URL/__peer/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const o=JSON.parse(s);
  console.log(Object.keys(o).filter(k=>/Signature|Validation|Serialization|Unrecognized|UnknownOperation/.test(k)).join(" "))})')
[ -z "$bad_sig" ] && ok "every request passed SigV4 and model validation" || bad "peer refused requests: $bad_sig"
finish
