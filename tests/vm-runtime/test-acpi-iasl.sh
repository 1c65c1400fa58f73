#!/usr/bin/env bash
# The DSDT ptctl's VMs get, disassembled by the ACPI reference compiler (iasl, Debian's acpica-tools):
# it must parse without errors and hold the PCI hot-plug objects (slots, _EJ0, PCNT, the GPE handler).
set -u
build=${BUILD:-build}
if ! command -v iasl >/dev/null; then
	echo "SKIP(iasl): iasl not installed (tools/install-deps installs acpica-tools)"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if grep -qE "$1" "$tmp/dsdt.dsl"; then echo "ok: $2"; else echo "FAIL: $2 (no /$1/)"; fail=1; fi; }

"$build/tests/vm-runtime/fixture-dsdt" >"$tmp/dsdt.aml" || { echo "FAIL: fixture-dsdt"; exit 1; }
if ! (cd "$tmp" && iasl -d dsdt.aml) >"$tmp/iasl.log" 2>&1; then
	cat "$tmp/iasl.log"
	echo "FAIL: iasl could not disassemble the DSDT"
	exit 1
fi
if grep -qiE "error|unknown opcode|AE_" "$tmp/iasl.log" "$tmp/dsdt.dsl"; then
	grep -iE "error|unknown opcode|AE_" "$tmp/iasl.log" "$tmp/dsdt.dsl" | head
	echo "FAIL: the disassembly reports problems"
	fail=1
fi
check 'Name \(_S5, Package' '\_S5'
check 'Device \(PCI0\)' 'the root bridge'
check 'OperationRegion \(PCST, SystemIO, 0x0610, 0x0C\)' 'hot-plug registers at 0x610'
check 'PCIU,[[:space:]]+32' 'PCIU field'
check 'B0EJ,[[:space:]]+32' 'B0EJ field'
check 'Method \(PCNT, 0' 'PCNT method'
check 'Notify \(S1F, 0x03\)' 'eject request for slot 31'
check 'Notify \(S01, One\)' 'device check for slot 1'
check 'Device \(S1F\)' 'slot 31 object'
check 'Method \(_EJ0, 1' '_EJ0'
check 'Scope \(\\_GPE\)' 'GPE scope'
check 'Method \(_E01, 0' 'GPE 1 handler'
check '\\_SB\.PCI0\.PCNT \(\)' '_E01 calls PCNT'
[ "$fail" = 0 ] && echo "test-acpi-iasl: all passed"
exit $fail
