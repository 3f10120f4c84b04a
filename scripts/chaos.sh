#!/bin/sh
# chaos.sh - run breakerd's seeded chaos test (scripts/chaos.py): faults,
# partitions of the ZooKeeper ensemble, dependency outages and PUBLISHes
# against a 3-instance fleet while clients hammer every socket; then check
# the recorded history.  Exit status 1 on any violation.
#
#   scripts/chaos.sh --duration 60 --seed 1 [--instances 3] [--keep]
#   BREAKERD_BUILD=build-san scripts/chaos.sh --duration 120 --seed 7
#
# See docs/reliability.md.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/chaos.py" "$@"
