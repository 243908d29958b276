# Shared helpers for the CLI tests: a scratch directory, assertions that
# print what a user would see, and a summary line.
set -u
SW=$(readlink -f "${1:?usage: test.sh PATH_TO_STEPWISE}")
SRC=${SW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PASS=0
FAIL=0

ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }

# expect_exit CODE DESCRIPTION -- command...
expect_exit() {
  local want=$1 what=$2; shift 3
  "$@" >"$T/out" 2>"$T/err"
  local got=$?
  if [ "$got" = "$want" ]; then ok "$what"; else
    bad "$what: exit $got, expected $want"; sed 's/^/    | /' "$T/err" | head -20
  fi
}

# expect_err PATTERN DESCRIPTION: stderr of the last expect_exit matches
expect_err() {
  if grep -qE -- "$1" "$T/err"; then ok "$2"; else
    bad "$2: stderr does not match /$1/"; sed 's/^/    | /' "$T/err" | head -5
  fi
}

# one_line DESCRIPTION: stderr of the last command is exactly one line
one_line() {
  local n; n=$(wc -l <"$T/err")
  if [ "$n" = 1 ]; then ok "$1"; else bad "$1: $n lines on stderr"; cat "$T/err"; fi
}

finish() {
  echo "$PASS passed, $FAIL failed"
  [ "$FAIL" = 0 ]
}
