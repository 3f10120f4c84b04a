#!/usr/bin/env bash
# fleet.sh - a whole breakerd fleet on this machine, for the demo and the
# drills: a 3-node ZooKeeper ensemble (scripts/zk-ensemble.sh), the flaky
# demo dependency (build/tools/flaky_service) and N breakerd instances, each
# with its own socket and a config rendered from conf/fleet.json.in by
# docker/entrypoint.sh (the renderer the containers use).  Everything runs
# on 127.0.0.1 private ports; logs, pid files and sockets live in one run
# directory.  Every process is started with setsid and recognised by its
# command line (it names a file in the run directory), so a stale pid file
# never makes us signal a stranger, and `down` can prove nothing is left.
# "[ a ] && [ b ] || die" is meant: die when either test fails.
# shellcheck disable=SC2015
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
RUNDIR=$ROOT/run/fleet
N=3
BASE=24100
TICK=500
SESSION=3000
INSTALL=1
BUILD_STEP=1
BUILD=${BREAKERD_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
READY_TIMEOUT=${FLEET_READY_TIMEOUT:-60}
opt_n="" opt_p="" opt_t="" opt_s=""

usage() {
	cat <<EOF
usage: scripts/fleet.sh [options] COMMAND

A local breakerd fleet: 3 ZooKeeper servers, a flaky demo dependency and
N breakerd instances on 127.0.0.1, all in one run directory.

commands:
  up            install what is missing, build, start whatever is not
                running, wait until every instance is ready, print how to
                use it and a status table (idempotent)
  down          stop everything; check that no process is left
  status        the status table (state per dependency, leaders, authority)
  watch         the status table every second (Ctrl-C stops)
  logs [-f] [NAME]  the last lines of every log (or NAME's: inst-a, flaky,
                zk1..zk3); -f follows
  start NAME    start one instance that is not running; wait until ready
  stop NAME     SIGTERM one instance     kill NAME   SIGKILL one instance
  flaky MODE    set the demo dependency: ok, error, slow, refuse or hang

options:
  -n N          number of breakerd instances, 1..26 (default 3)
  -d RUNDIR     run directory (default ./run/fleet)
  -p BASE       first port (default 24100): ZooKeeper BASE..BASE+8,
                flaky service BASE+10, its control port BASE+11
  -t TICK_MS    ZooKeeper tickTime (default 500)
  -s MS         breakerd session timeout (default 3000; 2..20 x tickTime)
  --no-install  do not run scripts/install-deps.sh
  --no-build    do not run make
  -h, --help    this help

Environment: BREAKERD_BUILD (build dir, default build), ZK_FORCE_SYNC
(default no: a demo, not a benchmark), FLEET_READY_TIMEOUT (default 60 s).
See docs/fleet.md; the drills are scripts/drill.sh.
EOF
}

die() {
	echo "fleet: $*" >&2
	exit 1
}

# ---------------------------------------------------------------- state

# Instance names: inst-a, inst-b, ...
names() {
	local l
	for l in $(echo {a..z} | cut -d' ' -f1-"$N"); do
		echo "inst-$l"
	done
}

zk_hosts() {
	echo "127.0.0.1:$BASE,127.0.0.1:$((BASE + 3)),127.0.0.1:$((BASE + 6))"
}

zk() {
	ZK_FORCE_SYNC=${ZK_FORCE_SYNC:-no} "$ROOT/scripts/zk-ensemble.sh" \
	    -d "$RUNDIR/zk" -p "$BASE" -t "$TICK" -n 3 "$@"
}

drill_py() {
	python3 "$ROOT/scripts/drill.py" -d "$RUNDIR" "$@"
}

# Load the settings of the fleet in RUNDIR (if there is one); options
# given on the command line win only when nothing of the fleet runs.
load_env() {
	local f=$RUNDIR/fleet.env k v
	[ -r "$f" ] || return 1
	while IFS='=' read -r k v; do
		case $k in
		N) N=$v ;; ZK_BASE) BASE=$v ;; TICK_MS) TICK=$v ;;
		SESSION_MS) SESSION=$v ;;
		esac
	done <"$f"
	return 0
}

write_env() {
	{
		echo "# written by scripts/fleet.sh up; read by fleet.sh and drill.py"
		echo "N=$N"
		echo "INSTANCES=$(names | tr '\n' ' ' | sed 's/ $//')"
		echo "ZK_BASE=$BASE"
		echo "ZK_HOSTS=$(zk_hosts)"
		echo "TICK_MS=$TICK"
		echo "SESSION_MS=$SESSION"
		echo "ZK_ROOT=/breakerd/fleet"
		echo "ZK_CREDENTIAL_FILE=$RUNDIR/zk-credential"
		echo "ZK_FORCE_SYNC=${ZK_FORCE_SYNC:-no}"
		echo "FLAKY_PORT=$((BASE + 10))"
		echo "FLAKY_CPORT=$((BASE + 11))"
		echo "BUILD=$BUILD"
	} >"$RUNDIR/fleet.env.tmp" && mv "$RUNDIR/fleet.env.tmp" "$RUNDIR/fleet.env"
}

# The pid of a process we started if it still runs: pid file $1, and its
# command line must contain $2 (a path in the run directory).
live_pid() {
	local f=$1 mark=$2 pid
	[ -r "$f" ] || return 1
	pid=$(cat "$f" 2>/dev/null)
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	[ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$mark" ||
	    return 1
	grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && return 1
	echo "$pid"
}

inst_pid() { live_pid "$RUNDIR/$1.pid" "$RUNDIR/$1.json"; }
flaky_pid() { live_pid "$RUNDIR/flaky.pid" "$RUNDIR/flaky-requests.log"; }

# Every process of this fleet, found by command line (for `down`).
fleet_procs() {
	local p cmd exe
	for p in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		case $cmd in *"$RUNDIR/"*) ;; *) continue ;; esac
		exe=${cmd%% *}
		case ${exe##*/} in
		breakerd | flaky_service | java) echo "${p#/proc/}" ;;
		esac
	done
}

# Is something listening on 127.0.0.1:$1?
port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ---------------------------------------------------------------- up

check_ports() {
	local p
	zk status 2>/dev/null | grep -q 'pid' && return 0
	for p in $BASE $((BASE + 3)) $((BASE + 6)); do
		port_busy "$p" && die "port $p is in use by another program (pick another base with -p)"
	done
	if ! flaky_pid >/dev/null; then
		for p in $((BASE + 10)) $((BASE + 11)); do
			port_busy "$p" && die "port $p is in use (pick another base with -p)"
		done
	fi
	return 0
}

install_and_build() {
	if [ "$INSTALL" = 1 ]; then
		"$ROOT/scripts/install-deps.sh" || die "installing dependencies failed"
	fi
	if [ "$BUILD_STEP" = 1 ]; then
		echo "fleet: building (make all build/tools/flaky_service)"
		make -s -C "$ROOT" all build/tools/flaky_service ||
		    die "build failed"
	fi
	[ -x "$BUILD/breakerd" ] || die "$BUILD/breakerd is not built (make)"
	[ -x "$BUILD/tools/flaky_service" ] ||
	    die "$BUILD/tools/flaky_service is not built (make build/tools/flaky_service)"
}

start_flaky() {
	local pid
	flaky_pid >/dev/null && return 0
	setsid "$BUILD/tools/flaky_service" -p $((BASE + 10)) \
	    -c $((BASE + 11)) -m ok -l "$RUNDIR/flaky-requests.log" \
	    </dev/null >>"$RUNDIR/flaky.log" 2>&1 &
	pid=$!
	echo "$pid" >"$RUNDIR/flaky.pid"
	for _ in $(seq 1 100); do
		port_busy $((BASE + 11)) && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	tail -n 5 "$RUNDIR/flaky.log" >&2
	die "the flaky service did not start (log $RUNDIR/flaky.log)"
}

# The fleet's ZooKeeper digest credential (user:password), made once per
# run directory from /dev/urandom, readable by us only: every znode the
# instances create is writable only with it (anyone may read).
make_credential() {
	local f=$RUNDIR/zk-credential pw
	[ -s "$f" ] && return 0
	pw=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
	[ ${#pw} -eq 36 ] || die "cannot read /dev/urandom"
	(umask 077 && printf 'breakerd:%s\n' "$pw" >"$f.tmp") &&
	    mv "$f.tmp" "$f" || die "cannot write $f"
}

# Render inst $1's config from the one template; check it with -n.
render_config() {
	local name=$1 uids cfg=$RUNDIR/$1.json
	uids=0
	[ "$(id -u)" = 0 ] || uids="0, $(id -u)"
	INSTANCE_ID=$name SOCKET_PATH=$RUNDIR/$name.sock SOCKET_MODE=0660 \
	    ADMIN_UIDS=$uids ZK_HOSTS=$(zk_hosts) ZK_SESSION_MS=$SESSION \
	    ZK_ROOT=/breakerd/fleet ZK_CREDENTIAL_FILE=$RUNDIR/zk-credential \
	    FLAKY_URL=http://127.0.0.1:$((BASE + 10)) \
	    LOG_LEVEL=${FLEET_LOG_LEVEL:-info} \
	    BREAKERD_TEMPLATE=$ROOT/conf/fleet.json.in \
	    sh "$ROOT/docker/entrypoint.sh" render >"$cfg.tmp" ||
	    die "cannot render $cfg"
	mv "$cfg.tmp" "$cfg"
	"$BUILD/breakerd" -n -f "$cfg" >/dev/null 2>"$RUNDIR/$name.check" || {
		cat "$RUNDIR/$name.check" >&2
		die "breakerd -n rejected $cfg"
	}
	rm -f "$RUNDIR/$name.check"
}

start_instance() {
	local name=$1
	inst_pid "$name" >/dev/null && return 0
	render_config "$name"
	rm -f "$RUNDIR/$name.sock"
	setsid "$BUILD/breakerd" -f "$RUNDIR/$name.json" \
	    </dev/null >>"$RUNDIR/$name.log" 2>&1 &
	echo $! >"$RUNDIR/$name.pid"
}

print_help_text() {
	local d="" a
	[ "$RUNDIR" = "$ROOT/run/fleet" ] || d=" -d $RUNDIR"
	a=$(names | head -n 1)
	cat <<EOF

breakerd fleet is up ($N instances; run directory $RUNDIR)
  ZooKeeper   $(zk_hosts)  (tickTime $TICK ms, sessions $SESSION ms)
  dependency  payments -> http://127.0.0.1:$((BASE + 10))/payments/health  (control port $((BASE + 11)))
  sockets    $(for n in $(names); do printf ' %s' "$RUNDIR/$n.sock"; done)
  logs        $RUNDIR/*.log  (scripts/fleet.sh$d logs)
  credential  $RUNDIR/zk-credential  (ZooKeeper digest user:password; the
              fleet's znodes are writable only with it)

Ask an instance:
  $BUILD/breakerctl -s $RUNDIR/$a.sock status
  $BUILD/breakerctl -s $RUNDIR/$a.sock list
  $BUILD/breakerctl -s $RUNDIR/$a.sock get payments
  $BUILD/breakerctl -s $RUNDIR/$a.sock watch
Break the demo dependency, watch the fleet open together, then mend it:
  scripts/fleet.sh$d flaky error     (or curl 'http://127.0.0.1:$((BASE + 11))/_control/mode?m=error')
  scripts/fleet.sh$d watch
  scripts/fleet.sh$d flaky ok
Failover drills: scripts/drill.sh$d all      Stop everything: scripts/fleet.sh$d down

EOF
}

cmd_up() {
	local running=0 n
	mkdir -p "$RUNDIR" || die "cannot create $RUNDIR"
	RUNDIR=$(cd "$RUNDIR" && pwd)
	if [ -r "$RUNDIR/fleet.env" ] && [ -n "$(fleet_procs)" ]; then
		load_env
		running=1
		[ -z "$opt_n$opt_p$opt_t$opt_s" ] ||
		    echo "fleet: a fleet runs in $RUNDIR: keeping its settings (down first to change them)" >&2
	fi
	[ "$running" = 1 ] || apply_opts
	[ ${#RUNDIR} -le 90 ] ||
	    die "run directory path too long for Unix sockets: $RUNDIR"
	install_and_build
	[ "$running" = 1 ] || check_ports
	write_env
	make_credential
	zk start >/dev/null || die "ZooKeeper did not start (logs: $RUNDIR/zk/server*/zk.log)"
	echo "fleet: ZooKeeper up at $(zk_hosts)"
	start_flaky
	for n in $(names); do
		start_instance "$n"
	done
	echo "fleet: waiting (at most ${READY_TIMEOUT}s) until every instance reports ready=1"
	drill_py --timeout "$READY_TIMEOUT" wait-ready ||
	    die "the fleet did not become ready (logs in $RUNDIR; scripts/fleet.sh down to clean up)"
	print_help_text
	drill_py status
}

# ---------------------------------------------------------------- down

# SIGTERM pid $1, wait up to 5 s, then SIGKILL.
stop_pid() {
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && return 0
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	sleep 0.1
}

cmd_down() {
	local n pid left
	[ -d "$RUNDIR" ] || { echo "fleet: nothing in $RUNDIR"; return 0; }
	RUNDIR=$(cd "$RUNDIR" && pwd)
	load_env || true
	for n in $(names); do
		pid=$(inst_pid "$n") && stop_pid "$pid"
		rm -f "$RUNDIR/$n.pid"
	done
	pid=$(flaky_pid) && stop_pid "$pid"
	rm -f "$RUNDIR/flaky.pid"
	[ -d "$RUNDIR/zk" ] && zk stop
	# Anything of this fleet still alive (a pid file lost, -n changed)?
	for pid in $(fleet_procs); do
		echo "fleet: stray process $pid: $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" >&2
		stop_pid "$pid"
	done
	left=$(fleet_procs)
	[ -z "$left" ] || die "processes still running: $left"
	echo "fleet: down (no process left from $RUNDIR)"
}

# ---------------------------------------------------------------- misc

need_fleet() {
	[ -r "$RUNDIR/fleet.env" ] ||
	    die "no fleet in $RUNDIR (scripts/fleet.sh up)"
	RUNDIR=$(cd "$RUNDIR" && pwd)
	load_env
}

check_name() {
	names | grep -qx -- "${1:-}" ||
	    die "no instance '${1:-}' (have: $(names | tr '\n' ' '))"
}

cmd_logs() {
	local follow=0 f files=()
	if [ "${1:-}" = -f ]; then
		follow=1
		shift
	fi
	case ${1:-} in
	'') files=("$RUNDIR"/inst-*.log "$RUNDIR/flaky.log") ;;
	zk[1-3]) files=("$RUNDIR/zk/server${1#zk}/zk.log") ;;
	*) files=("$RUNDIR/$1.log") ;;
	esac
	for f in "${files[@]}"; do
		[ -r "$f" ] || die "no log $f"
	done
	if [ "$follow" = 1 ]; then
		exec tail -n 20 -F "${files[@]}"
	fi
	for f in "${files[@]}"; do
		echo "==> $f <=="
		tail -n 20 "$f"
	done
}

apply_opts() {
	[ -z "$opt_n" ] || N=$opt_n
	[ -z "$opt_p" ] || BASE=$opt_p
	[ -z "$opt_t" ] || TICK=$opt_t
	[ -z "$opt_s" ] || SESSION=$opt_s
	case $N in '' | *[!0-9]*) die "-n: a number 1..26 expected" ;; esac
	[ "$N" -ge 1 ] && [ "$N" -le 26 ] || die "-n: 1..26"
	case $BASE in '' | *[!0-9]*) die "-p: a port expected" ;; esac
	[ "$BASE" -ge 1024 ] && [ "$BASE" -le 65500 ] || die "-p: 1024..65500"
	case $TICK in '' | *[!0-9]*) die "-t: milliseconds expected" ;; esac
	case $SESSION in '' | *[!0-9]*) die "-s: milliseconds expected" ;; esac
	[ "$SESSION" -ge $((2 * TICK)) ] && [ "$SESSION" -le $((20 * TICK)) ] ||
	    die "-s $SESSION: the servers allow $((2 * TICK))..$((20 * TICK)) ms with tickTime $TICK"
}

args=()
while [ $# -gt 0 ]; do
	case $1 in
	-n) opt_n=${2:-}; shift 2 || die "-n needs a value" ;;
	-d) RUNDIR=${2:-}; shift 2 || die "-d needs a value" ;;
	-p) opt_p=${2:-}; shift 2 || die "-p needs a value" ;;
	-t) opt_t=${2:-}; shift 2 || die "-t needs a value" ;;
	-s) opt_s=${2:-}; shift 2 || die "-s needs a value" ;;
	--no-install) INSTALL=0; shift ;;
	--no-build) BUILD_STEP=0; shift ;;
	-h | --help | help) usage; exit 0 ;;
	-*) [ ${#args[@]} -gt 0 ] && { args+=("$1"); shift; continue; }
	    echo "fleet: unknown option $1" >&2; usage >&2; exit 2 ;;
	*) args+=("$1"); shift ;;
	esac
done
[ -n "$RUNDIR" ] || die "-d: empty run directory"
set -- "${args[@]+"${args[@]}"}"

case ${1:-} in
up) cmd_up ;;
down) cmd_down ;;
status) need_fleet; drill_py status ;;
watch) need_fleet; drill_py watch ;;
logs) need_fleet; shift; cmd_logs "$@" ;;
start)
	need_fleet; check_name "${2:-}"
	start_instance "$2"
	drill_py --timeout 30 wait-ready "$2" || die "$2 did not become ready"
	echo "fleet: $2 ready"
	;;
stop | kill)
	need_fleet; check_name "${2:-}"
	pid=$(inst_pid "$2") || die "$2 is not running"
	if [ "$1" = stop ]; then
		stop_pid "$pid"
		echo "fleet: $2 (pid $pid) stopped"
	else
		kill -KILL "$pid"
		echo "fleet: $2 (pid $pid) killed"
	fi
	;;
flaky) need_fleet; drill_py flaky "${2:-}" ;;
'') usage >&2; exit 2 ;;
*) echo "fleet: unknown command: $1" >&2; usage >&2; exit 2 ;;
esac
