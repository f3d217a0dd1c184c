#!/usr/bin/env bash
# Runs the built snpemu binary as a user would and checks statuses and streams.
set -u
bin="${TEST_SRCDIR}/${TEST_WORKSPACE}/emu/snpemu"
fail=0
check() {  # check NAME EXPECTED_STATUS ARGS...
  local name=$1 want=$2; shift 2
  "$bin" "$@" >"$TEST_TMPDIR/out" 2>"$TEST_TMPDIR/err"
  local got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL $name: expected status $want, got $got (stderr: $(cat "$TEST_TMPDIR/err"))"
    fail=1
  fi
}
check default 0
grep -q "^memory: 4 GiB" "$TEST_TMPDIR/out" || { echo "FAIL default: no memory line"; fail=1; }
[ -s "$TEST_TMPDIR/err" ] && { echo "FAIL default: stderr not empty"; fail=1; }
check version 0 --version
grep -qx "snpemu 0.1.0" "$TEST_TMPDIR/out" || { echo "FAIL version output"; fail=1; }
check bad_flag 2 --no-such-flag
[ "$(wc -l <"$TEST_TMPDIR/err")" = 1 ] || { echo "FAIL bad_flag: not one line"; fail=1; }
[ -s "$TEST_TMPDIR/out" ] && { echo "FAIL bad_flag: stdout not empty"; fail=1; }
check bad_value 2 run --mem 12parsecs
exit $fail
