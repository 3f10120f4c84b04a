#!/bin/sh
# install-deps.sh - install, with apt-get, only the Debian packages that
# breakerd's build, tests and local fleet need and that are missing.
# Idempotent; works as root or through sudo.  Set BREAKERD_NO_INSTALL=1 to
# skip (the check still reports what is missing).
set -eu

# One group per line; add a package to the line of what needs it.
PKGS="
build-essential make pkg-config
libzookeeper-mt-dev libevent-dev libjansson-dev libcunit1-dev libsystemd-dev
zookeeper default-jre-headless
python3 python3-yaml
clang libclang-rt-14-dev clang-format valgrind
faketime prometheus gnuplot-nox
socat netcat-openbsd iproute2 procps iptables
debootstrap debian-archive-keyring
"
# build: the compiler, make, pkg-config.  libraries: the daemon's
# (libsystemd: sd_notify), CUnit.
# ZooKeeper servers of the tests and the demo (Debian's package, Java).
# python3 (+ yaml for the compose file checks): the integration tests.
# clang + libclang-rt: fuzzing and sanitizers; clang-format; valgrind.
# faketime: clock tests; prometheus: promtool checks the shipped rules;
# gnuplot-nox: benchmark plots.  socat, nc, ip, iptables: partition and socket
# tests.  debootstrap + keyring: scripts/docker-images.sh builds the base
# images without a registry.  Docker itself is not installed here: the
# compose tests run only where an engine already answers.

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
