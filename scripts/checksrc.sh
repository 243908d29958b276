#!/usr/bin/env bash
# Source checks that review should not have to make (curl's checksrc idea):
# banned C library functions outside src/common/sw_alloc.c (STYLE.md 2.6),
# C++ comments, tabs and trailing whitespace in src/. Prints each offence
# as FILE:LINE: what; exits 1 when there is any.
set -uo pipefail
cd "$(dirname "$0")/.."
bad=0
banned='(^|[^_a-zA-Z0-9.>])(malloc|calloc|realloc|free|strdup|strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|gets|strerror|gmtime|localtime)[[:space:]]*\('
while IFS= read -r f; do
  if [ "$f" != src/common/sw_alloc.c ]; then
    # Drop /* ... */ comments on a line and string literals before matching.
    out=$(sed -E 's#/\*.*\*/##g; s#"([^"\\]|\\.)*"#""#g' "$f" | grep -nE "$banned" | grep -vE '^[0-9]+:[[:space:]]*\*')
    if [ -n "$out" ]; then
      echo "$out" | sed "s#^#$f:#; s#\$#  <- banned function (use the sw_ wrappers)#"; bad=1
    fi
  fi
  out=$(grep -nE '^[^"]*//' "$f" | grep -vE 'https?://|://' )
  [ -n "$out" ] && { echo "$out" | sed "s#^#$f:#; s#\$#  <- use /* */ comments#"; bad=1; }
  out=$(grep -nE '[[:space:]]+$' "$f")
  [ -n "$out" ] && { echo "$out" | sed "s#^#$f:#; s#\$#  <- trailing whitespace#"; bad=1; }
  out=$(grep -nP '\t' "$f")
  [ -n "$out" ] && { echo "$out" | sed "s#^#$f:#; s#\$#  <- tab#"; bad=1; }
done < <(git ls-files -co --exclude-standard 'src/*.c' 'src/*.h' 'include/*.h')
if [ $bad = 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $bad
