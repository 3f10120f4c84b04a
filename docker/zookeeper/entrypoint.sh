#!/bin/sh
# entrypoint.sh - start one ZooKeeper server of Debian's packages in the
# foreground, configured like the official image: unless $ZOO_CONF_DIR
# already holds a zoo.cfg (mounted), write it from the environment below,
# write myid, then exec java (the server is the container's main process
# and receives `docker stop`'s SIGTERM).
#
#   ZOO_MY_ID [1]            this server's id (myid)
#   ZOO_SERVERS              "server.1=HOST:2888:3888;2181 server.2=..."
#                            (empty: a standalone server)
#   ZOO_TICK_TIME [2000]     ZOO_INIT_LIMIT [5]     ZOO_SYNC_LIMIT [2]
#   ZOO_MAX_CLIENT_CNXNS [60]    ZOO_STANDALONE_ENABLED [true]
#   ZOO_ADMINSERVER_ENABLED [true]  ZOO_4LW_COMMANDS_WHITELIST [srvr]
#   ZOO_AUTOPURGE_PURGEINTERVAL [0]  ZOO_AUTOPURGE_SNAPRETAINCOUNT [3]
#   ZOO_CFG_EXTRA            more "key=value" words, appended as lines
#   ZOO_CONF_DIR, ZOO_DATA_DIR, ZOO_DATA_LOG_DIR, ZOO_LOG_DIR  directories
#   JVMFLAGS [-Xmx256m -XX:+UseSerialGC]
#
# Any other command than zkServer is run as it is (sh, java, ...).
set -eu

die() {
	echo "zk-entrypoint: $*" >&2
	exit 78
}

# Write $ZOO_CONF_DIR/zoo.cfg from the environment.
write_cfg() {
	cfg=$1
	case ${ZOO_MY_ID:-1} in '' | *[!0-9]*) die "ZOO_MY_ID must be a number" ;; esac
	{
		echo "dataDir=$ZOO_DATA_DIR"
		echo "dataLogDir=$ZOO_DATA_LOG_DIR"
		echo "tickTime=${ZOO_TICK_TIME:-2000}"
		echo "initLimit=${ZOO_INIT_LIMIT:-5}"
		echo "syncLimit=${ZOO_SYNC_LIMIT:-2}"
		echo "autopurge.snapRetainCount=${ZOO_AUTOPURGE_SNAPRETAINCOUNT:-3}"
		echo "autopurge.purgeInterval=${ZOO_AUTOPURGE_PURGEINTERVAL:-0}"
		echo "maxClientCnxns=${ZOO_MAX_CLIENT_CNXNS:-60}"
		echo "standaloneEnabled=${ZOO_STANDALONE_ENABLED:-true}"
		echo "admin.enableServer=${ZOO_ADMINSERVER_ENABLED:-true}"
		echo "4lw.commands.whitelist=${ZOO_4LW_COMMANDS_WHITELIST:-srvr}"
		if [ -z "${ZOO_SERVERS:-}" ]; then
			echo "clientPort=2181"
			echo "server.1=localhost:2888:3888;2181"
		else
			# shellcheck disable=SC2086 # one word per server
			for s in $ZOO_SERVERS; do
				case $s in
				server.[0-9]*=*) echo "$s" ;;
				*) die "ZOO_SERVERS: not server.N=HOST:PORT:PORT[;PORT]: $s" ;;
				esac
			done
		fi
		# shellcheck disable=SC2086 # one word per setting
		for kv in ${ZOO_CFG_EXTRA:-}; do
			case $kv in
			*=*) echo "$kv" ;;
			*) die "ZOO_CFG_EXTRA: not key=value: $kv" ;;
			esac
		done
	} >"$cfg.tmp"
	mv "$cfg.tmp" "$cfg"
}

if [ "${1:-zkServer}" != zkServer ] && [ "${1:-}" != zkServer.sh ]; then
	exec "$@"
fi
cfg=$ZOO_CONF_DIR/zoo.cfg
[ -f "$cfg" ] || write_cfg "$cfg"
[ -f "$ZOO_DATA_DIR/myid" ] || echo "${ZOO_MY_ID:-1}" >"$ZOO_DATA_DIR/myid"
J=/usr/share/java
# log4j.properties: $ZOO_CONF_DIR's if it has one, else the image's
# (everything on the console, i.e. `docker logs`).
cp=$ZOO_CONF_DIR:/usr/local/share/zookeeper:$J/zookeeper.jar:$J/slf4j-log4j12.jar:$J/log4j-1.2.jar
echo "zk-entrypoint: server $(cat "$ZOO_DATA_DIR/myid"), $cfg" >&2
# shellcheck disable=SC2086 # JVMFLAGS is a list of words
exec java ${JVMFLAGS:--Xmx256m -XX:+UseSerialGC} \
    -Dzookeeper.log.dir="$ZOO_LOG_DIR" -Dzookeeper.root.logger=INFO,CONSOLE \
    -cp "$cp" org.apache.zookeeper.server.quorum.QuorumPeerMain "$cfg"
