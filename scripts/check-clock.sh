#!/bin/sh
# check-clock.sh - guard the rule "no decision reads a wall clock".
#
#   scripts/check-clock.sh [SRC_DIR ...]     (default: src include)
#
# Every duration breakerd acts on (open waits, backoff, the half-open
# limit, the lease, an override's ttl) is measured on CLOCK_MONOTONIC; wall
# clocks only fill display fields.  This check fails when a file outside
# the list below reads a wall clock, or when a listed file that writes
# wall times into records does so on a line not marked "display only".
# Exit 0 when clean, 1 with the offending lines otherwise.
set -u
cd "$(dirname "$0")/.."

# Files allowed to read the wall clock, and why.
ALLOWED='
util.c		defines now_wall_ms()
util.h		declares it
log.c		time stamps of log lines
breakerctl.c	time of day printed before watch lines
fleet.c		display fields since_ms (votes) and started_ms (registration), and the apply-lag gauge
leadwrite.c	display fields of the records a leader writes (changed_ms, set_ms, until_ms, history at_ms)
prober.c	display fields changed_ms and open_until_ms of records it publishes
converge.c	the age of an acknowledgement shown by FLEET (against the znode mtime)
'
# Of those, the ones whose every now_wall_ms() line must say "display only".
MARKED='fleet.c leadwrite.c prober.c converge.c'

PATTERN='now_wall_ms[[:space:]]*\(|CLOCK_REALTIME|CLOCK_TAI|gettimeofday|[^_a-z]time[[:space:]]*\((NULL|0|&)|ftime[[:space:]]*\(|clock_gettime[[:space:]]*\([^C]'

[ $# -gt 0 ] || set -- src include
status=0
for f in $(find "$@" -name '*.[ch]' | sort); do
	base=$(basename "$f")
	hits=$(grep -nE "$PATTERN" "$f" 2>/dev/null) || continue
	if ! printf '%s\n' "$ALLOWED" | grep -q "^$base	"; then
		echo "check-clock: $f reads a wall clock but is not allowed to:"
		printf '%s\n' "$hits" | sed 's/^/    /'
		status=1
		continue
	fi
	case " $MARKED " in
	*" $base "*)
		bad=$(printf '%s\n' "$hits" | grep 'now_wall_ms[[:space:]]*(' |
			grep -v 'display only')
		if [ -n "$bad" ]; then
			echo "check-clock: $f: wall-clock read not marked 'display only':"
			printf '%s\n' "$bad" | sed 's/^/    /'
			status=1
		fi
		;;
	esac
done
if [ "$status" -eq 0 ]; then
	echo "check-clock: wall clocks are read only by:"
	printf '%s\n' "$ALLOWED" | sed '/^$/d; s/^/    /'
fi
exit "$status"
