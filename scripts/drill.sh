#!/usr/bin/env bash
# drill.sh - failover drills against the running local fleet
# (scripts/fleet.sh up).  Each drill breaks something for real (SIGKILL a
# leader, lose ZooKeeper servers, fail the dependency), prints a timeline
# with millisecond offsets and a verdict; the logic is scripts/drill.py.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)

usage() {
	cat <<EOF
usage: scripts/drill.sh [-d RUNDIR] [--short] DRILL

Drills against the local fleet in RUNDIR (default ./run/fleet; start it
with scripts/fleet.sh up).  Each prints a timeline ("t+2310 inst-c leader
of payments") and "VERDICT <drill>: PASS" or FAIL.  A drill first waits
(bounded, saying so) for the state it starts from: the fleet whole, and for
outage the dependency CLOSED; if that runs out: "VERDICT <drill>: SKIP" and
why (FAIL is only ever a broken promise).

drills:
  kill-leader [DEP]  SIGKILL the leader of DEP (default payments): a new
                     leader within T + tickTime + 1 s (T: session timeout),
                     no state change; the killed instance is restarted
  stop-leader [DEP]  the same with SIGTERM: target < 500 ms (bound 1500)
  zk-loss            kill one ZooKeeper server (nothing visible changes),
                     then a second (answers go on, authority stale), then
                     restore both (authoritative again, no state lost)
  outage             fail the demo dependency: the fleet opens together,
                     only the leader probes; mend it: the fleet closes
                     together after one probe sequence
  blind-leader [DEP] cut the leader of DEP alone off from the dependency
                     (root: a cgroup and an iptables rule, both removed
                     after): the fleet stays CLOSED, the leader marks
                     itself blind and a seeing instance leads within the
                     old trip time + one health interval
  all                every drill in turn (blind-leader only as root);
                     exit 1 if any verdict fails, 3 if none failed but
                     some were skipped

options:
  -d RUNDIR   the fleet's run directory
  --short     shorter holds between steps (for the tests)
  --start-wait S
              wait at most S seconds for a drill's start state
              (default: what the drill's own bounds need)
EOF
}

args=()
while [ $# -gt 0 ]; do
	case $1 in
	-d) [ $# -ge 2 ] || { usage >&2; exit 2; }
	    args+=(-d "$2"); shift 2 ;;
	--short) args+=(--short); shift ;;
	--start-wait) [ $# -ge 2 ] || { usage >&2; exit 2; }
	    args+=(--start-wait "$2"); shift 2 ;;
	-h | --help | help) usage; exit 0 ;;
	-*) echo "drill: unknown option $1" >&2; usage >&2; exit 2 ;;
	*) break ;;
	esac
done
case ${1:-} in
kill-leader | stop-leader | blind-leader) [ $# -le 2 ] || { usage >&2; exit 2; } ;;
zk-loss | outage | all) [ $# -eq 1 ] || { usage >&2; exit 2; } ;;
'') usage >&2; exit 2 ;;
*) echo "drill: unknown drill: $1" >&2; usage >&2; exit 2 ;;
esac
command -v python3 >/dev/null || { echo "drill: python3 is needed" >&2; exit 2; }
exec python3 "$ROOT/scripts/drill.py" "${args[@]+"${args[@]}"}" "$@"
