#!/usr/bin/env bash
# zk-ensemble.sh - run a private ZooKeeper ensemble (1, 3 or 5 servers) from
# the Debian `zookeeper` package on 127.0.0.1, for breakerd's tests, benchmarks
# and local fleet.  Each server has its own directory under RUNDIR (cfg, data
# dir with myid, log, pid file).  Server N uses ports BASE+3(N-1) (clients),
# +1 (quorum) and +2 (leader election).  Every command is idempotent and
# bounded in time; processes are identified by a -Dbreakerd.zk.dir= marker on
# their command line, so a stale pid file never makes us kill a stranger.
set -u

RUNDIR=./run/zk
BASE=22181
TICK=2000
SIZE=3
START_TIMEOUT=${ZK_START_TIMEOUT:-60}
JAVA=${JAVA:-java}
JAVA_OPTS=${ZK_JAVA_OPTS:--Xmx256m -XX:+UseSerialGC}
J=/usr/share/java
CLASSPATH="/etc/zookeeper/conf:$J/zookeeper.jar:$J/slf4j-log4j12.jar:$J/log4j-1.2.jar"
MAIN=org.apache.zookeeper.server.quorum.QuorumPeerMain

usage() {
	cat <<EOF
usage: $0 [-d RUNDIR] [-p BASEPORT] [-t TICK_MS] [-n SIZE] COMMAND

Run a ZooKeeper ensemble on 127.0.0.1 for tests.

commands:
  start       start every server that is not running; wait for a quorum
  stop        SIGKILL every server and wait until they are gone
  status      print each server's pid, client port and mode
  kill N      SIGKILL server N (1-based)
  restart N   (re)start server N and wait until it serves again
  wait        wait until every running server serves, with one leader
  hosts       print the connect string (127.0.0.1:p1,127.0.0.1:p2,...)

options:
  -d RUNDIR   state directory (default ./run/zk)
  -p BASE     first port (default 22181); server N uses BASE+3(N-1)..+2
  -t TICK_MS  tickTime (default 2000; tests use 500; sessions 2..20 ticks)
  -n SIZE     number of servers: 1 (standalone), 3 (default) or 5

environment:
  ZK_FORCE_SYNC=no     skip fsync (faster tests; say so when quoting figures)
  ZK_START_TIMEOUT=S   bound on start/wait/restart (default 60)
  ZK_JAVA_OPTS=...     JVM options (default "-Xmx256m -XX:+UseSerialGC")
EOF
}

die() {
	echo "zk-ensemble: $*" >&2
	exit 1
}

# Client, quorum and election port of server $1.
cport() { echo $((BASE + 3 * ($1 - 1))); }
qport() { echo $((BASE + 3 * ($1 - 1) + 1)); }
eport() { echo $((BASE + 3 * ($1 - 1) + 2)); }
sdir() { echo "$RUNDIR/server$1"; }

# The pid of server $1 if it runs (and is ours), else nothing.
server_pid() {
	local f pid
	f="$(sdir "$1")/zk.pid"
	[ -r "$f" ] || return 1
	pid=$(cat "$f" 2>/dev/null)
	case "$pid" in '' | *[!0-9]*) return 1 ;; esac
	[ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
	    grep -qF -- "-Dbreakerd.zk.dir=$(sdir "$1") " || return 1
	# A zombie is not running.
	grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && return 1
	echo "$pid"
}

# Send a four-letter word to server $1; print the reply (bounded: 2 s).
fourlw() {
	# shellcheck disable=SC2016 # $1 and $2 expand in the inner bash
	timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf %s "$2" >&3; cat <&3' _ "$(cport "$1")" "$2" 2>/dev/null
}

# Mode of server $1 (leader, follower, standalone) or nothing.
server_mode() {
	fourlw "$1" srvr | sed -n 's/^Mode: *//p'
}

write_cfg() {
	local n=$1 d i
	d=$(sdir "$n")
	mkdir -p "$d/data" || die "cannot create $d/data"
	echo "$n" >"$d/data/myid"
	{
		echo "tickTime=$TICK"
		echo "initLimit=10"
		echo "syncLimit=5"
		echo "dataDir=$(cd "$d/data" && pwd)"
		echo "clientPort=$(cport "$n")"
		echo "clientPortAddress=127.0.0.1"
		echo "admin.enableServer=false"
		echo "4lw.commands.whitelist=ruok,srvr,mntr,stat,conf"
		echo "maxClientCnxns=0"
		echo "minSessionTimeout=$((2 * TICK))"
		echo "maxSessionTimeout=$((20 * TICK))"
		if [ "${ZK_FORCE_SYNC:-yes}" = no ]; then
			echo "forceSync=no"
		fi
		if [ "$SIZE" -gt 1 ]; then
			for i in $(seq 1 "$SIZE"); do
				echo "server.$i=127.0.0.1:$(qport "$i"):$(eport "$i")"
			done
		fi
	} >"$d/zoo.cfg.tmp" && mv "$d/zoo.cfg.tmp" "$d/zoo.cfg"
}

start_server() {
	local n=$1 d pid
	d=$(sdir "$n")
	if pid=$(server_pid "$n"); then
		return 0
	fi
	write_cfg "$n"
	# setsid: the server outlives this script and ^C in the caller's
	# terminal; the caller stops it through this script.
	# shellcheck disable=SC2086
	setsid "$JAVA" $JAVA_OPTS "-Dbreakerd.zk.dir=$d" \
	    -Dzookeeper.root.logger=INFO,CONSOLE \
	    -Dzookeeper.log.dir="$d" \
	    -cp "$CLASSPATH" "$MAIN" "$d/zoo.cfg" \
	    </dev/null >>"$d/zk.log" 2>&1 &
	pid=$!
	echo "$pid" >"$d/zk.pid"
	# Until the child has exec'd java its cmdline is still this shell's,
	# and server_pid would call a starting server dead (seen on a loaded
	# machine).  Wait, bounded, for the exec or the child's exit.
	for _ in $(seq 1 100); do
		server_pid "$n" >/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
}

# SIGKILL server $1 and wait (bounded) until it is gone.
kill_server() {
	local n=$1 pid i
	pid=$(server_pid "$n") || return 0
	kill -KILL "$pid" 2>/dev/null
	for i in $(seq 1 100); do
		[ -e "/proc/$pid" ] || break
		grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && break
		sleep 0.05
	done
	rm -f "$(sdir "$n")/zk.pid"
}

# Does every running server serve, with exactly one leader?
quorum_ok() {
	local n mode leaders=0 serving=0
	for n in $(seq 1 "$SIZE"); do
		server_pid "$n" >/dev/null || continue
		mode=$(server_mode "$n")
		[ -n "$mode" ] || return 1
		serving=$((serving + 1))
		case "$mode" in leader | standalone) leaders=$((leaders + 1)) ;; esac
	done
	[ "$serving" -gt $((SIZE / 2)) ] && [ "$leaders" -eq 1 ]
}

# Wait until quorum_ok, failing early when a server dies.
wait_quorum() {
	local deadline n
	deadline=$((SECONDS + START_TIMEOUT))
	while [ "$SECONDS" -lt "$deadline" ]; do
		quorum_ok && return 0
		for n in $(seq 1 "$SIZE"); do
			if [ -e "$(sdir "$n")/zk.pid" ] &&
			    ! server_pid "$n" >/dev/null; then
				tail -n 20 "$(sdir "$n")/zk.log" >&2
				die "server $n died (log: $(sdir "$n")/zk.log)"
			fi
		done
		sleep 0.2
	done
	cmd_status >&2
	die "no quorum after ${START_TIMEOUT}s (logs in $RUNDIR/server*/zk.log)"
}

cmd_start() {
	local n
	command -v "$JAVA" >/dev/null || die "java not found (apt-get install default-jre-headless)"
	[ -r "$J/zookeeper.jar" ] || die "$J/zookeeper.jar missing (apt-get install zookeeper)"
	for n in $(seq 1 "$SIZE"); do
		start_server "$n"
	done
	wait_quorum
	echo "zk-ensemble: $SIZE server(s) up: $(cmd_hosts)"
}

cmd_stop() {
	local n
	for n in $(seq 1 "$SIZE"); do
		kill_server "$n"
	done
}

cmd_status() {
	local n pid mode
	for n in $(seq 1 "$SIZE"); do
		if pid=$(server_pid "$n"); then
			mode=$(server_mode "$n")
			echo "server $n: pid $pid port $(cport "$n") mode ${mode:-none}"
		else
			echo "server $n: down port $(cport "$n")"
		fi
	done
}

cmd_restart() {
	local n=$1 deadline
	kill_server "$n"
	start_server "$n"
	deadline=$((SECONDS + START_TIMEOUT))
	until [ -n "$(server_mode "$n")" ]; do
		server_pid "$n" >/dev/null ||
		    die "server $n died (log: $(sdir "$n")/zk.log)"
		[ "$SECONDS" -lt "$deadline" ] ||
		    die "server $n did not serve within ${START_TIMEOUT}s"
		sleep 0.2
	done
	wait_quorum
}

cmd_hosts() {
	local n out=""
	for n in $(seq 1 "$SIZE"); do
		out="$out${out:+,}127.0.0.1:$(cport "$n")"
	done
	echo "$out"
}

check_n() {
	case "${1:-}" in '' | *[!0-9]*) die "server number expected" ;; esac
	if [ "$1" -lt 1 ] || [ "$1" -gt "$SIZE" ]; then
		die "no server $1 (size $SIZE)"
	fi
}

case "${1:-}" in --help | -help | help) usage; exit 0 ;; esac
while getopts "d:p:t:n:h" opt; do
	case "$opt" in
	d) RUNDIR=$OPTARG ;;
	p) BASE=$OPTARG ;;
	t) TICK=$OPTARG ;;
	n) SIZE=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
case "$SIZE" in 1 | 3 | 5) ;; *) die "size must be 1, 3 or 5" ;; esac
case "$BASE" in '' | *[!0-9]*) die "bad base port: $BASE" ;; esac
case "$TICK" in '' | *[!0-9]*) die "bad tick: $TICK" ;; esac
if [ "$BASE" -lt 1024 ] || [ $((BASE + 3 * SIZE)) -gt 65535 ]; then
	die "base port out of range: $BASE"
fi
mkdir -p "$RUNDIR" || die "cannot create $RUNDIR"

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
kill) check_n "${2:-}"; kill_server "$2" ;;
restart) check_n "${2:-}"; cmd_restart "$2" ;;
wait) wait_quorum ;;
hosts) cmd_hosts ;;
'') usage >&2; exit 2 ;;
*) echo "zk-ensemble: unknown command: $1" >&2; usage >&2; exit 2 ;;
esac
