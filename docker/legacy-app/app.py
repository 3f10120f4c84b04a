#!/usr/bin/env python3
"""app.py - a "legacy" application that protects one dependency with the
breakerd beside it, using nothing but the socket protocol (no client
library): before each call it asks `ALLOW <dep>`, makes the call only if
allowed, then reports how it went with `REPORT <dep> ok|fail <ms>`.

It runs in its own container and reaches its breakerd through the socket
in the volume both mount (/run/breakerd).  Environment:

  BREAKERD_SOCKET  the daemon's socket [/run/breakerd/breakerd.sock]
  DEPENDENCY       the dependency's name [payments]
  TARGET_URL       what a call does: an HTTP GET [http://127.0.0.1:8080/]
  INTERVAL_S       seconds between calls [1]
  CALLS            stop after this many calls; 0 runs forever [0]

One line per call on stdout: "allowed ok 3 ms", "allowed fail 500 ...",
"denied OPEN (fail fast)", or "breakerd unavailable: ... (fail open)".
Python 3 standard library only.
"""

import os
import socket
import sys
import time
import urllib.error
import urllib.request

SOCK = os.environ.get("BREAKERD_SOCKET", "/run/breakerd/breakerd.sock")
DEP = os.environ.get("DEPENDENCY", "payments")
URL = os.environ.get("TARGET_URL", "http://127.0.0.1:8080/")
INTERVAL = float(os.environ.get("INTERVAL_S", "1"))
CALLS = int(os.environ.get("CALLS", "0"))


class Breakerd:
    """One connection to the local daemon, reopened when it breaks."""

    def __init__(self, path, timeout=0.5):
        self.path, self.timeout = path, timeout
        self.sock, self.buf = None, b""

    def request(self, line):
        """Send one line and return the first reply line (OSError if the
        daemon is not there: the caller decides to fail open)."""
        if self.sock is None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(self.timeout)
            s.connect(self.path)
            self.sock, self.buf = s, b""
        try:
            self.sock.sendall(line.encode() + b"\n")
            while b"\n" not in self.buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise OSError("breakerd closed the connection")
                self.buf += chunk
        except OSError:
            self.sock.close()
            self.sock = None
            raise
        reply, self.buf = self.buf.split(b"\n", 1)
        return reply.decode().rstrip("\r")


def call(url):
    """The protected call: (ok, milliseconds, detail)."""
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            ok, detail = 200 <= r.status < 400, str(r.status)
    except urllib.error.HTTPError as e:
        ok, detail = False, str(e.code)
    except OSError as e:
        ok, detail = False, type(e).__name__
    return ok, int((time.monotonic() - t0) * 1000), detail


def one(bd):
    """Ask, call if allowed, report; returns the line to print."""
    try:
        answer = bd.request("ALLOW %s" % DEP)
    except OSError as e:
        ok, ms, detail = call(URL)
        return "breakerd unavailable: %s (fail open) -> %s" % (e, detail)
    if answer.startswith("OK DENY"):
        return "denied %s (fail fast)" % answer.split()[2]
    if not answer.startswith("OK ALLOW"):
        return "unexpected answer: %s" % answer
    ok, ms, detail = call(URL)
    try:
        bd.request("REPORT %s %s %d" % (DEP, "ok" if ok else "fail", ms))
    except OSError as e:
        return "allowed %s %d ms (report lost: %s)" % (detail, ms, e)
    return "allowed %s %s %d ms" % ("ok" if ok else "fail", detail, ms)


def main():
    bd = Breakerd(SOCK)
    print("legacy-app: %s via %s, calling %s" % (DEP, SOCK, URL), flush=True)
    n = 0
    while CALLS == 0 or n < CALLS:
        print("%s %s" % (time.strftime("%H:%M:%S"), one(bd)), flush=True)
        n += 1
        time.sleep(INTERVAL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
