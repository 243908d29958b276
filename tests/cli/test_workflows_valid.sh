#!/usr/bin/env bash
# Every shipped definition must deploy to AWS unchanged, so each
# workflows/*.asl.json (and bench/*.asl.json) must pass asl-validator.
#
# Usage: test_workflows_valid.sh [STEPWISE_BIN]   (the binary is not used here)
# Env:   SW_SRCDIR  repository root (default: two levels above this script)
# Exit:  0 pass, 1 fail, 77 skip (node_modules/asl-validator missing: run
#        `npm install` in the repository root).
#
# Then, when aws-local-stepfunctions and the sqlite3 CLI are available, runs
# workflows/sales_data_pipeline.asl.json under aws-local-stepfunctions with its
# Tasks replaced by local handlers: submitScript runs the sql/ script with the
# sqlite3 CLI (one transaction, parameters as text), describeStatement answers
# STARTED once and then the outcome, getStatementResult returns validate.sql's
# row in the Data API shape. This checks the definition's data flow (paths,
# ResultSelector/ResultPath, Choice rules, Fail causes) against the real SQL:
# two consecutive days succeed, the run_date default is the start date, and
# FAILED, ABORTED, failed validation and bad input end in the named errors.
set -uo pipefail

SRC=${SW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$SRC" || { echo "FAIL: cannot cd to $SRC"; exit 1; }
if [ ! -d node_modules/asl-validator ]; then
  echo "SKIP: node_modules/asl-validator missing (run npm install in $SRC)"
  exit 77
fi

failures=0
shopt -s nullglob
files=(workflows/*.asl.json bench/*.asl.json)
if [ ${#files[@]} -eq 0 ]; then
  echo "FAIL: no workflows/*.asl.json"
  exit 1
fi
for f in "${files[@]}"; do
  if out=$(npx --no-install asl-validator --json-path "$f" 2>&1); then
    echo "ok: $f is valid"
  else
    echo "FAIL: $f is not valid:"
    grep -v '^npm warn' <<<"$out" | sed 's/^/  /'
    failures=$((failures + 1))
  fi
done

# ---------------------------------------------------------------------------
# Dry run of the sales pipeline under aws-local-stepfunctions.
if [ ! -d node_modules/aws-local-stepfunctions ] || ! command -v sqlite3 >/dev/null 2>&1 \
   || ! command -v node >/dev/null 2>&1; then
  echo "note: aws-local-stepfunctions, node or sqlite3 missing; sales pipeline dry run skipped"
else
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  cat >"$TMP/sim.mjs" <<'EOF'
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';

// aws-local-stepfunctions 3 needs Promise.withResolvers (Node 22).
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function () {
    let resolve, reject;
    const promise = new this((a, b) => { resolve = a; reject = b; });
    return { promise, resolve, reject };
  };
}
const [src, db, inputJson, mode] = process.argv.slice(2);
const { StateMachine } = createRequire(join(src, 'package.json'))('aws-local-stepfunctions');
const definition = JSON.parse(readFileSync(join(src, 'workflows/sales_data_pipeline.asl.json'), 'utf8'));

const statements = new Map();
let seq = 0;
function submit(input) {
  if (typeof input.Script !== 'string' || !input.Parameters) throw new Error(`bad submit input ${JSON.stringify(input)}`);
  const id = `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`;
  const p = input.Parameters;
  const st = { status: 'FINISHED', error: undefined, out: '', polls: 0 };
  if (mode === 'fail' && input.Script === 'sales/scd2_item.sql') {
    st.status = 'FAILED'; st.error = 'ERROR: simulated failure of scd2_item';
  } else if (mode === 'abort' && input.Script === 'sales/fact_store_sales.sql') {
    st.status = 'ABORTED';
  } else {
    const sql = readFileSync(join(src, 'sql', input.Script), 'utf8');
    const text = (v) => String(v).replace(/'/g, "''");
    try {
      st.out = execFileSync('sqlite3', [db], { stdio: ['pipe', 'pipe', 'pipe'], input:
        `.bail on\n.nullvalue NULL\n.parameter set :run_date "'${text(p.run_date)}'"\n` +
        `.parameter set :scale "'${text(p.scale)}'"\nBEGIN;\n${sql}\nCOMMIT;\n` }).toString().trim();
    } catch (e) {
      st.status = 'FAILED'; st.error = String(e.stderr || e.message).trim();
    }
  }
  statements.set(id, st);
  return { Id: id, CreatedAt: 1624665600, Database: 'dev' };
}
const handlers = {};
const waits = {};
(function walk(states) {
  for (const [name, s] of Object.entries(states)) {
    if (s.Type === 'Parallel') s.Branches.forEach((b) => walk(b.States));
    if (s.Type === 'Wait') waits[name] = 0;
    if (s.Type !== 'Task') continue;
    if (s.Resource.endsWith('stepwise.sql.submitScript')) handlers[name] = async (i) => submit(i);
    else if (s.Resource.endsWith(':describeStatement')) handlers[name] = async (i) => {
      const st = statements.get(i.Id);
      if (!st) throw new Error(`describeStatement: unknown Id ${i.Id}`);
      const r = { Id: i.Id, Status: st.polls++ === 0 ? 'STARTED' : st.status,
                  QueryString: '-- script', HasResultSet: st.out !== '' };
      if (r.Status === 'FAILED') r.Error = st.error;
      return r;
    };
    else if (s.Resource.endsWith(':getStatementResult')) handlers[name] = async (i) => {
      const st = statements.get(i.Id);
      if (!st) throw new Error(`getStatementResult: unknown Id ${i.Id}`);
      return { Records: [[st.out === 'NULL' ? { isNull: true } : { stringValue: st.out }]],
               ColumnMetadata: [{ name: 'failed_check', typeName: 'text' }], TotalNumRows: 1 };
    };
    else throw new Error(`no local handler for ${name} (${s.Resource})`);
  }
})(definition.States);

const machine = new StateMachine(definition);
const run = machine.run(JSON.parse(inputJson), {
  overrides: { taskResourceLocalHandlers: handlers, waitTimeOverrides: waits } });
try {
  const output = await run.result;
  console.log(JSON.stringify({ status: 'SUCCEEDED', output }));
} catch (e) {
  const c = e.cause || {};
  console.log(JSON.stringify({ status: 'FAILED', error: c.name || e.name, cause: c.message || e.message }));
}
EOF
  db=$TMP/warehouse.db
  sim() { node "$TMP/sim.mjs" "$SRC" "$db" "$@" 2>&1; }
  # expect_sim LABEL EXPECTED_SUBSTRING INPUT [MODE]
  expect_sim() {
    local label=$1 want=$2 got
    shift 2
    got=$(sim "$@")
    if [[ $got == *"$want"* ]]; then echo "ok: sales dry run: $label"
    else echo "FAIL: sales dry run: $label: expected ...$want..., got $got"; failures=$((failures + 1)); fi
  }
  ids='"statement_ids":{"setup":"00000000-0000-4000-8000-000000000001","customer_address_scd1":"00000000-0000-4000-8000-000000000002","item_scd2":"00000000-0000-4000-8000-000000000003","store_sales_fact":"00000000-0000-4000-8000-000000000004","validation":"00000000-0000-4000-8000-000000000005"}'
  expect_sim "day 1 succeeds with a summary" \
    "{\"status\":\"SUCCEEDED\",\"output\":{\"run_date\":\"2021-06-26\",\"scale\":1,\"validation\":\"passed\",$ids}}" \
    '{"run_date": "2021-06-26"}'
  expect_sim "day 2 succeeds" '"run_date":"2021-06-27","scale":1,"validation":"passed"' \
    '{"run_date": "2021-06-27", "poll_seconds": 0}'
  expect_sim "run_date defaults to the start date (UTC)" \
    "\"run_date\":\"$(date -u +%Y-%m-%d)\",\"scale\":1,\"validation\":\"passed\"" '{}'
  rows=$(sqlite3 "$db" "SELECT COUNT(DISTINCT ss_sold_date_sk) || '|' || COUNT(*) FROM store_sales")
  [ "$rows" = "3|3000" ] && echo "ok: sales dry run: store_sales holds 3 days" \
    || { echo "FAIL: sales dry run: store_sales days|rows = $rows, expected 3|3000"; failures=$((failures + 1)); }
  expect_sim "FAILED statement fails the execution with its error" \
    '{"status":"FAILED","error":"ItemScd2.Failed","cause":"ERROR: simulated failure of scd2_item"}' \
    '{"run_date": "2021-06-28"}' fail
  expect_sim "ABORTED statement fails instead of polling forever" \
    '{"status":"FAILED","error":"StoreSalesFact.Aborted","cause":"The store_sales fact statement (sql/sales/fact_store_sales.sql) was aborted."}' \
    '{"run_date": "2021-06-28"}' abort
  expect_sim "failed check fails with Validation.Failed" \
    '{"status":"FAILED","error":"Validation.Failed","cause":"run_date: 2019-12-31 is not a day of date_dim' \
    '{"run_date": "2019-12-31"}'
  expect_sim "bad input fails with Config.Invalid" '{"status":"FAILED","error":"Config.Invalid"' \
    '{"scale": "ten"}'
fi

if [ "$failures" -ne 0 ]; then
  echo "test_workflows_valid: $failures failure(s)"
  exit 1
fi
echo "test_workflows_valid: all passed"
