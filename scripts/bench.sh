#!/usr/bin/env bash
# bench.sh - run breakerd's benchmarks and print what they ran on.  Called
# by `make bench` (which builds build/breakerd and build/bench/* first).
#
#   scripts/bench.sh
#
# Prints the machine (CPUs, model, kernel, compiler) and, before each
# benchmark, the exact command, so a pasted run says how to repeat it.
# Every benchmark prints its figures next to a baseline measured in the
# same run; ratios that miss a target are reported, never fatal (timing on
# a shared machine is noisy).  The exit status is 1 only if a benchmark
# itself failed (a server did not start, a wrong reply, an allocation).
#
# Environment:
#   BENCH_BREAKER_ARGS   arguments for bench_breaker (default: none)
#   BENCH_SOCKET_ARGS    arguments for bench_socket (default: none)
#   BENCH_SHM_ARGS       arguments for bench_shm (default: none; -q quick)
#   BENCH_EXTRA=0        skip the fleet benchmarks (the loop at the end)
#   BREAKERD_BIN         the daemon bench_socket starts (build/breakerd)
set -u
cd "$(dirname "$0")/.." || exit 1

BUILD=${BUILD:-build}
status=0

# The machine, first: every figure below depends on it.
machine() {
	local model
	model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	echo "== machine"
	echo "cpus:     $(nproc) online ($(nproc --all) configured)"
	echo "model:    ${model:-unknown}"
	echo "kernel:   $(uname -srm)"
	echo "compiler: $(${CC:-cc} --version 2>/dev/null | head -n 1)"
	echo "libevent: $(pkg-config --modversion libevent 2>/dev/null || echo unknown)"
	echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min)"
	echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
}

# Print a command, run it, remember a failure.
run() {
	echo
	echo "== \$ $*"
	if "$@"; then :; else
		echo "== FAILED (exit $?): $*"
		status=1
	fi
}

machine
# shellcheck disable=SC2086 # word splitting of the *_ARGS is wanted
run "$BUILD/bench/bench_breaker" ${BENCH_BREAKER_ARGS:-}
# shellcheck disable=SC2086
run "$BUILD/bench/bench_socket" ${BENCH_SOCKET_ARGS:-}
# shellcheck disable=SC2086
run "$BUILD/bench/bench_shm" ${BENCH_SHM_ARGS:-}

# ---- fleet benchmarks -------------------------------------------------
# Every tests/bench/*.py and scripts/bench/*.sh runs here, in name order,
# with no arguments: each brings up what it needs (a ZooKeeper ensemble,
# daemons) on 127.0.0.1, bounds itself in time, prints its own baseline
# and ratios, and exits non-zero only when something broke.  C programs
# they drive (build/bench/<name>) are built by `make bench`.
if [ "${BENCH_EXTRA:-1}" != 0 ]; then
	for f in tests/bench/*.py scripts/bench/*.sh; do
		[ -f "$f" ] || continue
		case $f in
		*.py) run python3 "$f" ;;
		*.sh) run bash "$f" ;;
		esac
	done
fi
# ---- end of fleet benchmarks ------------------------------------------

echo
if [ "$status" -eq 0 ]; then
	echo "== bench: every benchmark ran"
else
	echo "== bench: some benchmark FAILED (see above)"
fi
exit "$status"
