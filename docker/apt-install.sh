#!/bin/sh
# apt-install.sh - the package step of every Dockerfile here: install the
# Debian packages named as arguments that the image does not have yet.
# A base image built by scripts/docker-images.sh without network access
# for containers already holds them (debootstrap --include), and then
# nothing is fetched; otherwise apt-get installs the missing ones and
# drops its lists, so the layer stays small.
set -eu
missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "apt-install: all of $* present"
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
apt-get clean
rm -rf /var/lib/apt/lists/*
