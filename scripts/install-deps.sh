#!/bin/sh
# install-deps.sh - install, with apt-get, only the Debian packages that
# breakerd's build, tests and local fleet need and that are missing.
# Idempotent; works as root or through sudo.  Set BREAKERD_NO_INSTALL=1 to
# skip (the check still reports what is missing).  A fresh machine needs
# every group below before `make test`; `make demo` and `make test` call
# this first.
set -eu

# Named groups, one line each; add a package to the group that needs it.
# build: the compiler, make, pkg-config.  libs: the daemon's libraries
# (libsystemd: sd_notify) and CUnit.  zk: the ZooKeeper servers of the
# tests and the demo (Debian's package, Java).  python: the integration
# tests (+ yaml for the compose file checks).  tools: clang +
# libclang-rt (fuzzing, sanitizers), clang-format, valgrind, faketime
# (clock tests), promtool (prometheus: the shipped rules), gnuplot-nox
# (benchmark plots).  net: socat, nc, ip, iptables (partition and socket
# tests).  docker: debootstrap + keyring, for scripts/docker-images.sh.
# Docker itself is not installed here: the compose tests run only where
# an engine already answers.
GROUP_build="build-essential make pkg-config"
GROUP_libs="libzookeeper-mt-dev libevent-dev libjansson-dev libcunit1-dev
libsystemd-dev"
GROUP_zk="zookeeper default-jre-headless"
GROUP_python="python3 python3-yaml"
GROUP_tools="clang libclang-rt-14-dev clang-format valgrind faketime
prometheus gnuplot-nox"
GROUP_net="socat netcat-openbsd iproute2 procps iptables"
GROUP_docker="debootstrap debian-archive-keyring"
# BREAKERD_DEPS_GROUPS limits the install to some groups (e.g. "build
# libs": enough for `make`); the default is every group.
DEP_GROUPS=${BREAKERD_DEPS_GROUPS:-build libs zk python tools net docker}
PKGS=""
for g in $DEP_GROUPS; do
	eval "pkgs=\${GROUP_$g:-}"
	[ -n "$pkgs" ] || {
		echo "install-deps: unknown group $g" >&2
		exit 2
	}
	PKGS="$PKGS $pkgs"
done

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi
echo "install-deps: missing:$missing"
if [ "${BREAKERD_NO_INSTALL:-0}" = 1 ]; then
	echo "install-deps: BREAKERD_NO_INSTALL=1, not installing" >&2
	exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "install-deps: need root or sudo to install:$missing" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
echo "install-deps: installed:$missing"
