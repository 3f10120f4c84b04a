#!/usr/bin/env bash
# fresh-machine-check.sh - the README's quick start on a machine that has
# none of our packages: a new container of the local Debian base image
# (scripts/docker-images.sh base: debootstrap bookworm, nothing else but
# `make`, as a new user's machine), the repository copied in as it is
# committed (plus uncommitted changes to tracked files), then the README's
# commands, each the first make of its kind on that machine:
#
#   scripts/fresh-machine-check.sh [--quick|--full] [--keep] [--rev REV]
#
#   default   `make demo` (installs every package, builds, starts the
#             local fleet, waits until ready), `scripts/fleet.sh down`,
#             then `make check-unit`: about 6 minutes, mostly apt-get.
#   --quick   what CI runs (tests/integration/test_fresh_machine.py): one
#             `make deps all test-bins` with only the build and library
#             package groups (BREAKERD_DEPS_GROUPS), so that pkg-config
#             is asked after `deps` in the same make, then the unit tests:
#             about 4 minutes.
#   --full    `make demo`, `scripts/fleet.sh down`, then `make test`
#             verbatim (the whole suite: about 10 more minutes; the
#             container gets NET_ADMIN and SYS_ADMIN for the network-
#             namespace tests).
#   --keep    keep the container (breakerd-fresh-PID) for a look inside.
#   --rev REV test commit REV instead (e.g. an old one, to see it fail).
#
# Needs a Docker engine whose containers reach the Debian mirror (the
# packages come from there, as on a real machine); exits 77 when either is
# missing, 0 when every command passed, 1 otherwise.  The log is
# run/fresh-machine/check-PID.log.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BASE=breakerd-base:bookworm
NAME=breakerd-fresh-$$
FULL=0
KEEP=0
REV=""
LOGDIR=$ROOT/run/fresh-machine

while [ $# -gt 0 ]; do
	case $1 in
	--full) FULL=1 ;;
	--quick) FULL=q ;;
	--keep) KEEP=1 ;;
	--rev) REV=${2:-}; shift ;;
	-h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "fresh-machine-check: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done

say() { echo "fresh-machine-check: $*" >&2; }

docker version >/dev/null 2>&1 || { say "no Docker engine answers"; exit 77; }
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
	"$ROOT/scripts/docker-images.sh" base || exit 1
fi
mkdir -p "$LOGDIR"
LOG=$LOGDIR/check-$$.log

# The tree to test: HEAD, or HEAD plus changes to tracked files.
tree=$(cd "$ROOT" && git stash create 2>/dev/null)
[ -n "$tree" ] || tree=HEAD
[ -z "$REV" ] || tree=$REV

priv=()
first_cmd="make demo"
then_cmd="scripts/fleet.sh down && make check-unit"
if [ "$FULL" = 1 ]; then
	then_cmd="scripts/fleet.sh down && CI=true make test"
	# ip netns and iptables for the partition tests (not --privileged:
	# an engine that may not grant every capability refuses it).
	priv=(--cap-add NET_ADMIN --cap-add SYS_ADMIN
	    --security-opt seccomp=unconfined --security-opt apparmor=unconfined)
elif [ "$FULL" = q ]; then
	first_cmd="BREAKERD_DEPS_GROUPS='build libs' make deps all test-bins"
	then_cmd="scripts/run-tests.sh unit"
fi
# As a new user would: only make (and the clone) exist before make demo.
# policy-rc.d: packages do not start their services (no init here).
script="set -eux
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends make >/dev/null
if command -v cc || command -v pkg-config; then exit 3; fi
mkdir -p /home/user/breakerd && cd /home/user/breakerd && tar -x
t0=\$(date +%s)
$first_cmd
t1=\$(date +%s)
$then_cmd
t2=\$(date +%s)
echo \"fresh-machine-check: $first_cmd \$((t1 - t0)) s, $then_cmd \$((t2 - t1)) s\""

rmopt=(--rm)
[ "$KEEP" = 1 ] && rmopt=()
say "container $NAME from $BASE: $first_cmd; $then_cmd (log $LOG)"
t0=$(date +%s)
(cd "$ROOT" && git archive --format=tar "$tree") |
    docker run -i "${rmopt[@]}" "${priv[@]}" --name "$NAME" \
    --label org.breakerd.fresh=1 -e CI=true "$BASE" bash -c "$script" \
    >"$LOG" 2>&1
rc=$?
say "exit $rc after $(($(date +%s) - t0)) s; last lines of $LOG:"
tail -n 15 "$LOG" >&2
if [ "$rc" -ne 0 ] && grep -q "Temporary failure resolving\|Could not connect\|Unable to connect" "$LOG"; then
	say "the container cannot reach the Debian mirror"
	exit 77
fi
[ "$rc" -eq 0 ] || exit 1
exit 0
