#!/usr/bin/env bash
# Bad input gets one clear line, a non-zero exit, and no damage: the
# checkpoint store and the warehouse are left as they were.
. "$(dirname "$0")/lib.sh"
cd "$SRC"
H="$T/home"
export STEPWISE_HOME="$H"

expect_exit 2 "no arguments is a usage error" -- "$SW"
expect_exit 0 "--help succeeds" -- "$SW" --help
expect_exit 0 "start --help succeeds" -- "$SW" start --help
grep -q -- "--input" "$T/out" && ok "start --help documents --input" || bad "start --help lacks --input"

expect_exit 2 "unknown workflow" -- "$SW" start no_such_flow
expect_err 'unknown workflow "no_such_flow".*known: .*sales_data_pipeline' "unknown workflow lists the known ones"
one_line "unknown workflow is one line"
[ ! -e "$H/state.db" ] && ok "unknown workflow creates no store" || bad "store created"

printf '{\n  "StartAt": "A",\n  "States": {\n    "A": {"Type": "Pass", "Next": "Lod"}\n  }\n}\n' >"$T/bad_next.asl.json"
expect_exit 2 "invalid definition" -- "$SW" exec "$T/bad_next.asl.json"
expect_err "bad_next.asl.json: /States/A/Next: .*Lod" "invalid definition names file, pointer and target"
one_line "invalid definition is one line"

printf '{\n  "StartAt": "A",\n  "States": {\n    "A": {"Type": "Pass", "End": true,}\n  }\n}\n' >"$T/syntax.asl.json"
expect_exit 2 "JSON syntax error" -- "$SW" exec "$T/syntax.asl.json"
expect_err "syntax.asl.json:4:[0-9]+: invalid JSON" "syntax error names file:line:column"

printf '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}' >"$T/ok.asl.json"
expect_exit 2 "invalid input JSON" -- "$SW" exec "$T/ok.asl.json" --input '{"a": }'
expect_err "--input:1:7: invalid JSON" "invalid input names --input and the column"
one_line "invalid input is one line"

expect_exit 2 "unknown warehouse scheme" -- "$SW" exec "$T/ok.asl.json" --warehouse 'mysql://x/y'
expect_err "unknown warehouse URL scheme" "unknown warehouse scheme is named"
one_line "unknown warehouse scheme is one line"
[ ! -e "$H/state.db" ] && ok "no store after the bad inputs" || bad "store created by bad input"

# A good run creates the store; a later bad run leaves it byte-for-byte.
expect_exit 0 "a valid definition runs" -- "$SW" exec "$T/ok.asl.json" --input '{"x": 1}'
sum_before=$(sqlite3 "$H/state.db" "SELECT count(*) FROM executions; SELECT count(*) FROM events;" | tr '\n' ' ')
cat >"$T/noscript.asl.json" <<'J'
{"StartAt": "S", "States": {"S": {"Type": "Task",
  "Resource": "arn:aws:states:::activity:stepwise.sql.submitScript",
  "Parameters": {"Script": "sales/no_such_script.sql"}, "End": true}}}
J
expect_exit 2 "missing SQL script" -- "$SW" exec "$T/noscript.asl.json"
expect_err "noscript.asl.json: /States/S.*no_such_script.sql" "missing script names the state and the file"
one_line "missing script is one line"
sum_after=$(sqlite3 "$H/state.db" "SELECT count(*) FROM executions; SELECT count(*) FROM events;" | tr '\n' ' ')
[ "$sum_before" = "$sum_after" ] && ok "store untouched by the bad run" || bad "store changed: $sum_before -> $sum_after"

expect_exit 0 "a named execution runs" -- "$SW" exec "$T/ok.asl.json" --name same --quiet
expect_exit 2 "duplicate execution name (second)" -- "$SW" exec "$T/ok.asl.json" --name same
expect_err 'named "same"' "duplicate name is reported"
head -c 270000 /dev/zero | tr '\0' 'a' | sed 's/.*/{"big": "&"}/' >"$T/big.json"
expect_exit 2 "input over the 256 KiB payload limit" -- "$SW" exec "$T/ok.asl.json" --input @"$T/big.json"
expect_err "larger than 262144 bytes" "payload limit is named"
expect_exit 2 "resume of an unknown id" -- "$SW" resume 00000000-no-such
expect_err 'no execution' "unknown id is reported"
finish
