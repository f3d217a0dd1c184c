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
grep -q 'crc32("123456789") 0x00000000cbf43926' "$TEST_TMPDIR/out" || { echo "FAIL default: guest output missing"; fail=1; }
[ "$(wc -l <"$TEST_TMPDIR/err")" = 1 ] || { echo "FAIL default: stderr is not one summary line"; fail=1; }
check version 0 --version
grep -qx "snpemu 0.1.0" "$TEST_TMPDIR/out" || { echo "FAIL version output"; fail=1; }
check bad_flag 2 --no-such-flag
[ "$(wc -l <"$TEST_TMPDIR/err")" = 1 ] || { echo "FAIL bad_flag: not one line"; fail=1; }
[ -s "$TEST_TMPDIR/out" ] && { echo "FAIL bad_flag: stdout not empty"; fail=1; }
check bad_value 2 run --mem 12parsecs

# exec: the guest's console bytes, and nothing else, on stdout; the summary on stderr; status
# (value << 1) | 1 from isa-debug-exit (checksum.elf returns 0 -> status 1).
guest="${TEST_SRCDIR}/${TEST_WORKSPACE}/test/guests/checksum.elf"
check exec_checksum 1 exec "$guest" --mem 64M
expected_out='crc32 0x'
head -c 8 "$TEST_TMPDIR/out" | grep -qx "$expected_out" || { echo "FAIL exec stdout: $(head -c 80 "$TEST_TMPDIR/out")"; fail=1; }
grep -q 'crc32("123456789") 0x00000000cbf43926' "$TEST_TMPDIR/out" || { echo "FAIL exec: CRC check value missing"; fail=1; }
[ "$(wc -l <"$TEST_TMPDIR/out")" = 3 ] || { echo "FAIL exec: stdout is not exactly the guest's 3 lines"; fail=1; }
grep -q "instructions, .* modelled cycles, .* host time, ended by exit port 0xf4, status 1" "$TEST_TMPDIR/err" || { echo "FAIL exec summary: $(cat "$TEST_TMPDIR/err")"; fail=1; }
# run: the same guest under the hypervisor model prints exactly what it prints on bare metal.
check run_checksum 1 run "$guest" --mem 64M
[ "$(wc -l <"$TEST_TMPDIR/out")" = 3 ] || { echo "FAIL run: stdout is not exactly the guest's 3 lines"; fail=1; }
grep -q "exits (1 to the VMM), .* host time, ended by exit port 0xf4, status 1" "$TEST_TMPDIR/err" || { echo "FAIL run summary: $(cat "$TEST_TMPDIR/err")"; fail=1; }
check exec_limit 1 exec "$guest" --max-insns 100
grep -q "ended by instruction limit" "$TEST_TMPDIR/err" || { echo "FAIL exec limit: $(cat "$TEST_TMPDIR/err")"; fail=1; }
check exec_not_elf 1 exec "$bin"
grep -q "ELF: e_type 3 is not ET_EXEC (2)" "$TEST_TMPDIR/err" || { echo "FAIL exec of a non-image: $(cat "$TEST_TMPDIR/err")"; fail=1; }
# measure: one line of 96 lower-case hex digits on stdout, nothing on stderr.
check measure_elf 0 measure "$guest"
grep -qxE '[0-9a-f]{96}' "$TEST_TMPDIR/out" && [ "$(wc -l <"$TEST_TMPDIR/out")" = 1 ] || { echo "FAIL measure stdout: $(cat "$TEST_TMPDIR/out")"; fail=1; }
[ -s "$TEST_TMPDIR/err" ] && { echo "FAIL measure: stderr not empty"; fail=1; }
one_vcpu=$(cat "$TEST_TMPDIR/out")
check measure_elf_2 0 measure "$guest" --vcpus 2
[ "$(cat "$TEST_TMPDIR/out")" != "$one_vcpu" ] || { echo "FAIL measure: --vcpus 2 gave the 1-vCPU digest"; fail=1; }
check measure_elf_bad_vcpus 2 measure "$guest" --vcpus 0
# A one-zero-page manifest; the answer was computed with Python hashlib over PAGE_INFO.
printf '{"pages": [{"type": "zero", "gpa": "0x800000"}]}' >"$TEST_TMPDIR/zero.json"
check measure_manifest 0 measure --manifest "$TEST_TMPDIR/zero.json"
grep -qx '4472405c6dbc65e5629805f2be1b3df74eb119841eff12466c24f43e67083c23df5e645b2742b6d9aa0f943e095cebaa' "$TEST_TMPDIR/out" || { echo "FAIL measure manifest digest: $(cat "$TEST_TMPDIR/out")"; fail=1; }
printf '{"pages": [{"type": "zero", "gpa": "0x1001"}]}' >"$TEST_TMPDIR/bad.json"
check measure_bad_manifest 2 measure --manifest "$TEST_TMPDIR/bad.json"
[ "$(wc -l <"$TEST_TMPDIR/err")" = 1 ] || { echo "FAIL bad manifest: not one line"; fail=1; }
[ -s "$TEST_TMPDIR/out" ] && { echo "FAIL bad manifest: stdout not empty"; fail=1; }
grep -q "pages\[0\].gpa: 0x1001 is not 4 KiB aligned" "$TEST_TMPDIR/err" || { echo "FAIL bad manifest message: $(cat "$TEST_TMPDIR/err")"; fail=1; }

# vcek --pem: a PEM public key; if the openssl tool is installed, it reads it as P-384.
check vcek_pem 0 vcek --pem
head -1 "$TEST_TMPDIR/out" | grep -qx -- "-----BEGIN PUBLIC KEY-----" || { echo "FAIL vcek: $(head -1 "$TEST_TMPDIR/out")"; fail=1; }
tail -1 "$TEST_TMPDIR/out" | grep -qx -- "-----END PUBLIC KEY-----" || { echo "FAIL vcek: $(tail -1 "$TEST_TMPDIR/out")"; fail=1; }
if command -v openssl >/dev/null; then
  openssl pkey -pubin -in "$TEST_TMPDIR/out" -noout -text 2>&1 | grep -q "secp384r1" || { echo "FAIL vcek: openssl does not read a P-384 key"; fail=1; }
fi
check vcek_no_format 2 vcek
exit $fail
