#!/bin/sh
# entrypoint.sh - the container entrypoint of breakerd's image, and the one
# renderer of conf/fleet.json.in (scripts/fleet.sh calls `render` too, so
# the local fleet and the containers run the same configuration).
#
#   entrypoint.sh render [TEMPLATE]   print the rendered config on stdout
#   entrypoint.sh breakerd [ARGS]     render, check (breakerd -n), exec breakerd
#                                     (with -f FILE in ARGS: no template)
#   entrypoint.sh flaky               run the demo dependency, reachable from
#                                     other containers (see run_flaky)
#   entrypoint.sh flaky-mode MODE     switch it: ok, error, slow, refuse, hang
#   entrypoint.sh CMD [ARGS]          exec CMD (breakerctl, sh, ...)
#
# Rendering is plain sed: every placeholder (NAME between two at signs) in
# the template is replaced by the environment variable NAME.  Values are
# checked against a conservative character set first, so that nothing can
# break out of a JSON string or the sed expression; a placeholder left
# over is an error, never an empty value.
#
# Environment (defaults in brackets):
#   INSTANCE_ID [hostname]  SOCKET_PATH [/run/breakerd/breakerd.sock]
#   SOCKET_MODE [0660]      ADMIN_UIDS [0]      ZK_HOSTS (required)
#   ZK_SESSION_MS [3000]    ZK_ROOT [/breakerd/default]
#   ZK_CREDENTIAL_FILE (required) a file holding user:password: every znode
#                      breakerd creates is writable only with it
#   FLAKY_URL (required)    LOG_LEVEL [info]
#   BREAKERD_TEMPLATE  template path [../conf/fleet.json.in beside this
#                      script, else /etc/breakerd/fleet.json.in]
#   BREAKERD_CONFIG    where `breakerd` writes the rendered config
#                      [/var/lib/breakerd/breakerd.json]
#   BREAKERD           the daemon binary [breakerd from PATH]
#   FLAKY_SERVICE      the flaky binary [flaky_service from PATH]
#   FLAKY_PORT [8080], FLAKY_CONTROL_PORT [8081], FLAKY_MODE [ok],
#   FLAKY_ADDR [0.0.0.0], FLAKY_LOG [/var/lib/breakerd/flaky-requests.log]
set -eu

VARS="INSTANCE_ID SOCKET_PATH SOCKET_MODE ADMIN_UIDS ZK_HOSTS ZK_SESSION_MS
ZK_ROOT ZK_CREDENTIAL_FILE FLAKY_URL LOG_LEVEL"

die() {
	echo "entrypoint: $*" >&2
	exit 78
}

# The template: $BREAKERD_TEMPLATE, the repository's, or the image's.
template_path() {
	if [ -n "${BREAKERD_TEMPLATE:-}" ]; then
		echo "$BREAKERD_TEMPLATE"
		return
	fi
	here=$(dirname "$0")
	if [ -r "$here/../conf/fleet.json.in" ]; then
		echo "$here/../conf/fleet.json.in"
	else
		echo /etc/breakerd/fleet.json.in
	fi
}

# Fill in the defaults of the optional variables.
set_defaults() {
	: "${INSTANCE_ID:=$(hostname 2>/dev/null || echo breakerd)}"
	: "${SOCKET_PATH:=/run/breakerd/breakerd.sock}"
	: "${SOCKET_MODE:=0660}"
	: "${ADMIN_UIDS:=0}"
	: "${ZK_SESSION_MS:=3000}"
	: "${ZK_ROOT:=/breakerd/default}"
	: "${LOG_LEVEL:=info}"
	: "${ZK_HOSTS:=}"
	: "${ZK_CREDENTIAL_FILE:=}"
	: "${FLAKY_URL:=}"
}

# Check one variable's value: non-empty, safe characters, right shape.
check_var() {
	name=$1
	eval "val=\${$name}"
	[ -n "$val" ] || die "$name is not set (see docker/entrypoint.sh)"
	case $val in
	*[!A-Za-z0-9._,:/\ +=-]*)
		die "$name has a character that is not allowed: $val" ;;
	esac
	case $name in
	ZK_SESSION_MS)
		case $val in *[!0-9]*) die "$name must be a number: $val" ;; esac ;;
	SOCKET_MODE)
		case $val in *[!0-7]*) die "$name must be octal: $val" ;; esac ;;
	ADMIN_UIDS)
		case $val in *[!0-9,\ ]*) die "$name must be uids: $val" ;; esac ;;
	SOCKET_PATH | ZK_ROOT | ZK_CREDENTIAL_FILE)
		case $val in /*) ;; *) die "$name must be absolute: $val" ;; esac ;;
	FLAKY_URL)
		case $val in http://*) ;; *) die "$name must be http://IP:PORT" ;; esac ;;
	esac
}

# Render the template on stdout.
cmd_render() {
	tmpl=${1:-$(template_path)}
	[ -r "$tmpl" ] || die "cannot read template $tmpl"
	set_defaults
	script=""
	for v in $VARS; do
		check_var "$v"
		eval "val=\${$v}"
		script="${script}s|@${v}@|${val}|g
"
	done
	out=$(sed -e "$script" "$tmpl") || die "sed failed on $tmpl"
	left=$(printf '%s\n' "$out" | grep -v '^[[:space:]]*#' |
		grep -o '@[A-Z_][A-Z0-9_]*@' | head -n 1 || true)
	[ -z "$left" ] || die "$tmpl uses $left, which no variable fills"
	printf '%s\n' "$out"
}

# Render, check with `breakerd -n`, then become breakerd.
cmd_breakerd() {
	cfg=${BREAKERD_CONFIG:-/var/lib/breakerd/breakerd.json}
	bin=${BREAKERD:-breakerd}
	mkdir -p "$(dirname "$cfg")" "$(dirname "${SOCKET_PATH:-/run/breakerd/x}")"
	cmd_render >"$cfg.tmp"
	mv "$cfg.tmp" "$cfg"
	"$bin" -n -f "$cfg" || die "breakerd -n rejected $cfg"
	echo "entrypoint: $INSTANCE_ID: config $cfg, zookeeper $ZK_HOSTS" >&2
	exec "$bin" -f "$cfg" "$@"
}

# The flaky service on every address of the container (FLAKY_ADDR), so
# that its request log (FLAKY_LOG) shows which breakerd called.  It is the
# container's main process: `docker stop` signals it directly.
run_flaky() {
	exec "${FLAKY_SERVICE:-flaky_service}" -b "${FLAKY_ADDR:-0.0.0.0}" \
	    -p "${FLAKY_PORT:-8080}" -c "${FLAKY_CONTROL_PORT:-8081}" \
	    -m "${FLAKY_MODE:-ok}" \
	    -l "${FLAKY_LOG:-/var/lib/breakerd/flaky-requests.log}"
}

# Switch the running flaky service's mode through its control port.
flaky_mode() {
	case ${1:-} in
	ok | error | slow | refuse | hang) ;;
	*) die "flaky-mode ok|error|slow|refuse|hang" ;;
	esac
	printf 'GET /_control/mode?m=%s HTTP/1.0\r\n\r\n' "$1" |
		socat -t 2 - "TCP:127.0.0.1:${FLAKY_CONTROL_PORT:-8081}" | head -n 1
}

case "${1:-breakerd}" in
render)
	shift $(($# > 0 ? 1 : 0))
	cmd_render "$@"
	;;
breakerd)
	shift $(($# > 0 ? 1 : 0))
	# Given a config of its own (-f FILE): no template, run it as it is.
	for a in "$@"; do
		[ "$a" != -f ] || exec "${BREAKERD:-breakerd}" "$@"
	done
	set_defaults
	cmd_breakerd "$@"
	;;
flaky)
	run_flaky
	;;
flaky-mode)
	flaky_mode "${2:-}"
	;;
-h | --help)
	sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'
	;;
*)
	exec "$@"
	;;
esac
