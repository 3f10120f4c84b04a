#!/usr/bin/env bash
# run-tests.sh - run breakerd's test suites and end with one plain
# "suite: N passed, N failed" line per suite.  Called by `make check` (and
# so by `make test`); the binaries must already be built.
#
#   scripts/run-tests.sh [format|unit|sanitize|fuzz|integration|integration-san ...]
#
# A suite that ran nothing (no binaries, no test passed) fails, and under
# CI=true the integration runner fails a test skipped for a missing
# required component.  Default: every suite.  FUZZ_SECONDS (default 20) bounds each fuzz
# target; INTEGRATION_ARGS is passed to tests/integration/run.py.
set -u
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
# Debian's python3 (with python3-yaml from install-deps.sh), not whatever
# other python3 comes first on PATH.
if [ -z "${PYTHON:-}" ]; then
	if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
LOGDIR=${TEST_LOGDIR:-$(mktemp -d /tmp/breakerd-tests.XXXXXX)}
summary=()
status=0

# A suite that found nothing to run fails: "0 passed, 0 failed" must never
# read as green (no binaries built, a wrong directory...).
missing() {
	local suite=$1 what=$2
	echo "   FAILED: $what"
	summary+=("$suite: 0 passed, 1 failed ($what)")
	status=1
}

# Run the CUnit binary of every tests/unit/test_*.c from a directory (one
# missing is a failure); count its tests from CUnit's "tests" summary row
# (Total Ran Passed Failed Inactive).
run_cunit() {
	local suite=$1 dir=$2 pass=0 fail=0 src bin log row
	echo "== $suite: $dir"
	for src in tests/unit/test_*.c; do
		bin="$dir/$(basename "$src" .c)"
		if [ ! -x "$bin" ]; then
			echo "== $suite: $(basename "$bin") MISSING (not built: $bin)"
			fail=$((fail + 1))
			status=1
			continue
		fi
		log="$LOGDIR/$suite-$(basename "$bin").log"
		echo "== $suite: $(basename "$bin")"
		if ASAN_OPTIONS=detect_leaks=1 "$bin" >"$log" 2>&1; then :; else
			status=1
			echo "   FAILED (exit $?), output:"
			sed 's/^/   | /' "$log" | tail -n 60
			fail=$((fail + 1))
		fi
		row=$(awk '$1 == "tests" { print $4, $5 }' "$log" | tail -n 1)
		if [ -n "$row" ]; then
			pass=$((pass + ${row% *}))
			fail=$((fail + ${row#* }))
			echo "   ${row% *} passed, ${row#* } failed"
		else
			echo "   no CUnit summary"
			fail=$((fail + 1))
			status=1
		fi
	done
	if [ $((pass + fail)) -eq 0 ]; then
		missing "$suite" "no tests ran from $dir"
		return
	fi
	summary+=("$suite: $pass passed, $fail failed")
}

# Every tests/fuzz/fuzz_*.c must have been built (make fuzz; clang).
run_fuzz() {
	local pass=0 fail=0 src bin name corpus
	for src in tests/fuzz/fuzz_*.c; do
		bin="build/fuzz/$(basename "$src" .c)"
		if [ ! -x "$bin" ]; then
			echo "== fuzz: $(basename "$bin") MISSING (not built: make fuzz)"
			fail=$((fail + 1))
			status=1
			continue
		fi
		name=$(basename "$bin")
		corpus=$(mktemp -d "$LOGDIR/corpus-$name.XXXXXX")
		[ -d "tests/fuzz/corpus/$name" ] &&
			cp -r "tests/fuzz/corpus/$name/." "$corpus/"
		echo "== fuzz: $name for ${FUZZ_SECONDS}s"
		if "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
		    -rss_limit_mb=1024 -artifact_prefix="$LOGDIR/" "$corpus" \
		    >"$LOGDIR/$name.log" 2>&1; then
			pass=$((pass + 1))
			grep -E '^#[0-9]+.*DONE' "$LOGDIR/$name.log" | sed 's/^/   /'
		else
			fail=$((fail + 1))
			status=1
			tail -n 40 "$LOGDIR/$name.log" | sed 's/^/   | /'
		fi
	done
	if [ $((pass + fail)) -eq 0 ]; then
		missing fuzz "no fuzz targets in tests/fuzz"
		return
	fi
	summary+=("fuzz: $pass passed, $fail failed")
}

run_integration() {
	local out="$LOGDIR/integration.log"
	echo "== integration"
	# shellcheck disable=SC2086
	"$PYTHON" tests/integration/run.py ${INTEGRATION_ARGS:-} 2>&1 |
		tee "$out"
	[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
	integration_summary integration "$out"
}

# The runner's last line as this suite's summary; no such line, or no
# test passed, is a failure (nothing ran is not green).
integration_summary() {
	local suite=$1 out=$2 line
	line=$(grep -E '^integration: [0-9]+ passed, [0-9]+ failed' "$out" |
		tail -n 1)
	if [ -z "$line" ]; then
		missing "$suite" "the runner printed no summary"
	elif [[ $line == "integration: 0 passed,"* ]]; then
		missing "$suite" "no test passed:${line#integration:}"
	else
		summary+=("$suite:${line#integration:}")
	fi
}

# The daemon built with ASan+UBSan (build-san) under the integration tests
# that drive it hardest; the harness fails a test whose daemon logged a
# sanitizer or LeakSanitizer report.
SAN_FILES="test_socket.py test_breakerctl.py test_metrics_http.py test_identity.py
test_fleet.py test_spread.py test_probes.py test_abuse.py test_partition.py
test_joining.py test_blind.py test_shm.py test_fleet_window.py
test_history.py test_reload_breaker.py test_reload_deps.py
test_reload_fwin.py"
run_integration_san() {
	local out="$LOGDIR/integration-san.log" files=()
	for f in $SAN_FILES; do files+=("tests/integration/$f"); done
	echo "== integration against build-san (ASan+UBSan+LSan)"
	BREAKERD_BUILD=build-san ASAN_OPTIONS=detect_leaks=1 \
		"$PYTHON" tests/integration/run.py "${files[@]}" 2>&1 | tee "$out"
	[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
	integration_summary integration-san "$out"
}

# clang-format; scripts/check-clock.sh: only the files it lists read a
# wall clock, and only for display; scripts/check-client-lib.sh: the
# client library needs only libc.
run_format() {
	local pass=0 fail=0
	echo "== format"
	if make -s check-format >"$LOGDIR/format.log" 2>&1; then
		pass=$((pass + 1))
	else
		head -n 40 "$LOGDIR/format.log"
		fail=$((fail + 1))
		status=1
	fi
	echo "== format: check-clock"
	if scripts/check-clock.sh >"$LOGDIR/check-clock.log" 2>&1; then
		pass=$((pass + 1))
	else
		cat "$LOGDIR/check-clock.log"
		fail=$((fail + 1))
		status=1
	fi
	echo "== format: check-client-lib"
	if scripts/check-client-lib.sh build >"$LOGDIR/check-client-lib.log" 2>&1 &&
		client_lib_check_can_fail >>"$LOGDIR/check-client-lib.log" 2>&1; then
		pass=$((pass + 1))
	else
		cat "$LOGDIR/check-client-lib.log"
		fail=$((fail + 1))
		status=1
	fi
	summary+=("format: $pass passed, $fail failed")
}

# The client-library check must reject an archive that calls libevent.
client_lib_check_can_fail() {
	local d rc
	d=$(mktemp -d)
	printf '#include <event2/event.h>\nvoid *planted(void) { return event_base_new(); }\n' >"$d/p.c"
	cc -c "$d/p.c" -o "$d/p.o" && ar rcs "$d/p.a" "$d/p.o" || { rm -rf "$d"; return 1; }
	scripts/check-client-lib.sh --archive "$d/p.a"
	rc=$?
	rm -rf "$d"
	if [ $rc -eq 0 ]; then
		echo "check-client-lib: accepted an archive that calls event_base_new"
		return 1
	fi
	echo "check-client-lib: rejects a planted libevent call, as it must"
}

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(format unit sanitize fuzz integration integration-san)
for s in "${suites[@]}"; do
	case $s in
	unit) run_cunit unit build/tests ;;
	sanitize) run_cunit sanitize build-san/tests ;;
	fuzz) run_fuzz ;;
	integration) run_integration ;;
	integration-san) run_integration_san ;;
	format) run_format ;;
	*) echo "run-tests.sh: unknown suite $s" >&2; exit 2 ;;
	esac
done

echo
echo "logs: $LOGDIR"
for line in "${summary[@]}"; do
	echo "$line"
done
exit $status
