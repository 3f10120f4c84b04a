#!/bin/sh
# example.sh - guarding a call from a shell script with breakerd.
#
#   sh example.sh [DEP]          (BREAKERD_SOCKET overrides the socket)
#
# Two ways: breakerctl's exit status (0 allow, 1 deny, 3 daemon unreachable,
# 4 error reply), or the raw protocol through socat or nc -U.  Either way,
# decide what "daemon unreachable" means for you: here, fail open.
set -u

DEP=${1:-payments}
SOCK=${BREAKERD_SOCKET:-/run/breakerd/breakerd.sock}
BREAKERCTL=${BREAKERCTL:-breakerctl}

# One request over the raw socket; prints the reply line.  socat if we have
# it, else OpenBSD nc (-U Unix socket, -N close after stdin ends, -w 1 s).
bd_raw() {
	if command -v socat >/dev/null 2>&1; then
		printf '%s\n' "$1" | socat -t1 - "UNIX-CONNECT:$SOCK"
	else
		printf '%s\n' "$1" | nc -N -w 1 -U "$SOCK"
	fi
}

# 1. breakerctl in an if statement.
"$BREAKERCTL" -s "$SOCK" --timeout 200 allow "$DEP" >/dev/null
case $? in
0) echo "breakerctl: $DEP allowed" ;;
1) echo "breakerctl: $DEP denied, failing fast" ;;
3) echo "breakerctl: daemon unreachable, failing open" ;;
*) echo "breakerctl: error" ;;
esac

# 2. The raw protocol: ALLOW answers "OK ALLOW" or "OK DENY <STATE>".
reply=$(bd_raw "ALLOW $DEP")
case $reply in
"OK ALLOW") echo "raw: $DEP allowed" ;;
"OK DENY"*) echo "raw: $DEP denied (${reply#OK DENY })" ;;
*) echo "raw: no clear answer (${reply:-none}), failing open" ;;
esac

# 3. Time the call and report how it went.
start=$(date +%s%3N)
if true; then outcome=ok; else outcome=fail; fi   # the real call goes here
ms=$(( $(date +%s%3N) - start ))
echo "report: $(bd_raw "REPORT $DEP $outcome $ms")"

# 4. The state, for humans or for scripts.
echo "get: $(bd_raw "GET $DEP")"
"$BREAKERCTL" -s "$SOCK" --json get "$DEP"
exit 0
