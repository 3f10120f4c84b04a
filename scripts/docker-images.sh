#!/usr/bin/env bash
# docker-images.sh - everything docker-compose.yml needs, on a machine
# with a Docker engine but no registry: the Debian base images, built
# locally with debootstrap and `docker import`, the fleet's ZooKeeper
# credential, and (`all`) the compose images themselves.
#
#   scripts/docker-images.sh [--rebuild] [all|base|credential|build|clean]
#
#   base        breakerd-base:bookworm from `debootstrap --variant=minbase
#               bookworm`, also tagged debian:bookworm and
#               debian:bookworm-slim unless those exist already (pulled
#               from a registry: then they are used as they are), so the
#               Dockerfiles work unchanged either way.  Skipped when the
#               image exists (--rebuild forces it).  If a container
#               cannot reach the Debian mirror, the base is made again
#               with every package the Dockerfiles install
#               (debootstrap --include), and their install steps
#               (docker/apt-install.sh) then fetch nothing.
#   credential  run/compose/zk-credential (user:password, random), the
#               compose secret zk_credential; kept when it exists.
#   build       the compose images (compose build).
#   all         the three above (the default; `make images`).
#   clean       remove the base images this script made (by label).
#
# Environment: DEBIAN_MIRROR [http://deb.debian.org/debian],
# BREAKERD_ZK_CREDENTIAL [run/compose/zk-credential],
# COMPOSE (the compose command; default `docker compose` when it
# answers, else docker-compose), COMPOSE_PROJECT_NAME.
# Needs root (or sudo) for debootstrap.  See docs/docker.md.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE=breakerd-base:bookworm
LABEL=org.breakerd.base
CRED=${BREAKERD_ZK_CREDENTIAL:-$ROOT/run/compose/zk-credential}
REBUILD=0
# What the Dockerfiles install (docker/Dockerfile, docker/zookeeper,
# docker/legacy-app): pre-installed when containers have no mirror.
FULL_INCLUDE="build-essential,make,pkg-config,libzookeeper-mt-dev,\
libevent-dev,libjansson-dev,libzookeeper-mt2,libevent-2.1-7,libsystemd-dev,libsystemd0,\
libevent-pthreads-2.1-7,libjansson4,socat,python3,libzookeeper-java,\
default-jre-headless,netcat-openbsd"

die() {
	echo "docker-images: $*" >&2
	exit 1
}

say() {
	echo "docker-images: $*" >&2
}

# The compose command: `docker compose` (v2) if it answers, else v1.
compose_cmd() {
	if [ -n "${COMPOSE:-}" ]; then
		echo "$COMPOSE"
	elif docker compose version >/dev/null 2>&1; then
		echo "docker compose"
	elif command -v docker-compose >/dev/null 2>&1; then
		echo docker-compose
	else
		die "neither \`docker compose\` nor docker-compose found"
	fi
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root or sudo for: $*"
	fi
}

image_exists() {
	docker image inspect "$1" >/dev/null 2>&1
}

# Is image $1 one of ours (made by this script)?
ours() {
	[ "$(docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" \
	    "$1" 2>/dev/null)" != "" ]
}

# debootstrap bookworm (extra packages $2, comma-separated) into a
# temporary directory, import it as $BASE with label value $1.
make_base() {
	local kind=$1 include=$2 dir t0 args=()
	command -v debootstrap >/dev/null ||
	    die "debootstrap is not installed (scripts/install-deps.sh)"
	dir=$(mktemp -d /var/tmp/breakerd-base.XXXXXX)
	# shellcheck disable=SC2064 # expand now: the directory of this call
	trap "as_root rm -rf '$dir'" EXIT
	[ -z "$include" ] || args=("--include=$include")
	say "debootstrap --variant=minbase ${args[*]:-} bookworm ($MIRROR)"
	t0=$(date +%s)
	as_root debootstrap --variant=minbase "${args[@]}" bookworm \
	    "$dir/root" "$MIRROR" >"$dir.log" 2>&1 || {
		tail -n 20 "$dir.log" >&2
		die "debootstrap failed (log $dir.log)"
	}
	as_root rm -rf "$dir/root/var/cache/apt/archives/"*.deb \
	    "$dir/root/var/lib/apt/lists/"*
	as_root tar -C "$dir/root" --numeric-owner -c . |
	    docker import -c "LABEL $LABEL=$kind" -c 'CMD ["bash"]' \
	    -m "debootstrap --variant=minbase bookworm ($kind)" - "$BASE" \
	    >/dev/null || die "docker import failed"
	as_root rm -rf "$dir" "$dir.log"
	trap - EXIT
	say "$BASE ($kind) built in $(($(date +%s) - t0)) s"
}

# Can a container of $BASE reach the Debian mirror (apt-get update)?
mirror_reachable() {
	timeout 120 docker run --rm --name "breakerd-mirror-probe-$$" "$BASE" \
	    sh -c 'apt-get update -q' >/dev/null 2>&1
}

# Tag $BASE as debian:bookworm(-slim) where those are absent or ours.
tag_debian() {
	local t
	for t in debian:bookworm debian:bookworm-slim; do
		if ! image_exists "$t" || ours "$t"; then
			docker tag "$BASE" "$t"
			say "tagged $t"
		else
			say "$t exists (not ours): the Dockerfiles use it"
		fi
	done
}

cmd_base() {
	docker version >/dev/null 2>&1 || die "no Docker engine answers"
	if [ "$REBUILD" = 1 ] || ! image_exists "$BASE"; then
		make_base minbase ""
		if ! mirror_reachable; then
			say "containers cannot reach $MIRROR: pre-installing the Dockerfiles' packages"
			make_base full "$FULL_INCLUDE"
		else
			say "containers reach $MIRROR: the Dockerfiles install their packages"
		fi
	else
		say "$BASE exists ($(docker image inspect -f \
		    "{{ index .Config.Labels \"$LABEL\" }}" "$BASE")), not rebuilt (--rebuild forces it)"
	fi
	tag_debian
}

cmd_credential() {
	local d pw
	[ -s "$CRED" ] && { say "credential $CRED kept"; return 0; }
	d=$(dirname "$CRED")
	mkdir -p "$d" && chmod 0700 "$d" || die "cannot create $d"
	pw=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
	[ ${#pw} -eq 36 ] || die "cannot read /dev/urandom"
	# 0644 inside a 0700 directory: only we reach it on the host, and the
	# containers' uid 10001 can read the bind-mounted secret.
	printf 'breakerd:%s\n' "$pw" >"$CRED.tmp" && chmod 0644 "$CRED.tmp" &&
	    mv "$CRED.tmp" "$CRED" || die "cannot write $CRED"
	say "credential $CRED made"
}

# The compose images.  The ZooKeeper image (apt-get of Java, mostly
# waiting on the network) is built beside the breakerd images (mostly
# compiling); compose then finds every layer cached.  No --parallel:
# compose would run the same build stage several times at once.
cmd_build() {
	local c t0 zkpid zklog
	c=$(compose_cmd)
	t0=$(date +%s)
	zklog=$(mktemp /tmp/breakerd-zk-build.XXXXXX)
	# Through compose too: its build context (and so the cache) is the
	# same as the later builds'.
	say "$c build zk1 (beside the others; log $zklog)"
	# shellcheck disable=SC2086 # "docker compose" is two words
	(cd "$ROOT" && $c build zk1) >"$zklog" 2>&1 &
	zkpid=$!
	say "$c build flaky breakerd-a legacy-app"
	# shellcheck disable=SC2086 # "docker compose" is two words
	(cd "$ROOT" && $c build flaky breakerd-a legacy-app) || {
		wait "$zkpid"
		die "compose build failed"
	}
	wait "$zkpid" || {
		tail -n 30 "$zklog" >&2
		die "the ZooKeeper image did not build (log $zklog)"
	}
	rm -f "$zklog"
	say "$c build (the rest, from the cache)"
	# shellcheck disable=SC2086
	(cd "$ROOT" && $c build) || die "compose build failed"
	say "compose images built in $(($(date +%s) - t0)) s"
}

cmd_clean() {
	local t
	for t in debian:bookworm debian:bookworm-slim "$BASE"; do
		if image_exists "$t" && ours "$t"; then
			docker rmi "$t" >/dev/null && say "removed $t"
		fi
	done
	return 0
}

while [ $# -gt 0 ]; do
	case $1 in
	--rebuild) REBUILD=1; shift ;;
	-h | --help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) die "unknown option $1" ;;
	*) break ;;
	esac
done
case ${1:-all} in
all) cmd_base; cmd_credential; cmd_build ;;
base) cmd_base ;;
credential) cmd_credential ;;
build) cmd_build ;;
clean) cmd_clean ;;
*) die "unknown command $1 (all, base, credential, build, clean)" ;;
esac
