#!/bin/sh
# check-client-lib.sh - the client library needs nothing but libc.
#
#   scripts/check-client-lib.sh [BUILD_DIR]          (default: build)
#   scripts/check-client-lib.sh --archive FILE.a     (one archive only)
#
# Applications in any language link libbreakerd_client, often into
# processes that have their own event loop or none; it must not drag in
# ZooKeeper, libevent or jansson.  Two checks:
#   - the shared object's DT_NEEDED entries are libc (and libpthread,
#     which glibc 2.34+ folds into libc);
#   - every symbol the static archive leaves undefined is defined by libc.
# The shared object is also linked with -Wl,-z,defs, so an undefined
# symbol there already fails the build.  Exit 0 when clean, 1 otherwise.
set -u

die() { echo "check-client-lib: $*" >&2; exit 1; }

libc=$(${CC:-cc} -print-file-name=libc.so.6)
[ -f "$libc" ] || libc=$(ldconfig -p 2>/dev/null | awk '/libc\.so\.6 / {print $NF; exit}')
[ -f "$libc" ] || die "cannot find libc.so.6"

check_archive() {
	ar=$1
	[ -f "$ar" ] || die "$ar: no such archive (build it first: make)"
	defined=$(nm --defined-only "$ar" 2>/dev/null | awk 'NF == 3 {print $3}' | sort -u)
	libc_syms=$(nm -D --defined-only "$libc" | awk '{print $NF}' | sed 's/@.*//' | sort -u)
	bad=$(nm -u "$ar" | awk 'NF == 2 {print $2}' | sed 's/@.*//' | sort -u |
		comm -23 - "$(tmp_of "$defined")" | comm -23 - "$(tmp_of "$libc_syms")")
	if [ -n "$bad" ]; then
		echo "check-client-lib: $ar uses symbols libc does not define:" >&2
		echo "$bad" | sed 's/^/  /' >&2
		return 1
	fi
	echo "check-client-lib: $ar: every undefined symbol is libc's"
}

TMPS=""
tmp_of() {
	f=$(mktemp)
	TMPS="$TMPS $f"
	printf '%s\n' "$1" >"$f"
	echo "$f"
}
trap 'rm -f $TMPS' EXIT

if [ "${1:-}" = "--archive" ]; then
	check_archive "$2"
	exit $?
fi

build=${1:-build}
so=$build/libbreakerd_client.so.0
[ -f "$so" ] || die "$so: not built (make)"
needed=$(readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
status=0
for n in $needed; do
	case $n in
	libc.so.6 | libpthread.so.0) ;;
	*)
		echo "check-client-lib: $so needs $n (only libc and libpthread are allowed)" >&2
		status=1
		;;
	esac
done
[ $status -eq 0 ] && echo "check-client-lib: $so needs only:" $needed
check_archive "$build/libbreakerd_client.a" || status=1
exit $status
