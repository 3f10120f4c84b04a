"""example.py - a tiny breakerd client for Python applications (stdlib only).

    from example import Breakerd
    bd = Breakerd(timeout=0.2, fail_open=True)
    if bd.allow("payments"):
        t0 = time.monotonic()
        ok = call_payments()
        bd.report("payments", "ok" if ok else "fail",
                  int((time.monotonic() - t0) * 1000))

Every request is bounded by `timeout` seconds.  When the daemon cannot be
reached (or does not answer in time), allow() follows the fail_open policy
instead of raising, and the connection is re-made on a later call, at most
once per `reconnect` seconds.  One request is in flight at a time (a lock),
so one object can be shared by threads.

Run it as a script for a demo:  python3 example.py [-s SOCKET] [DEP]
"""

import os
import socket
import sys
import threading
import time

DEFAULT_SOCKET = "/run/breakerd/breakerd.sock"


class BreakerdError(Exception):
    """An ERR reply from the daemon: .code (ENOENT, EPERM, ...) and text."""

    def __init__(self, code, message):
        super().__init__("%s %s" % (code, message))
        self.code = code
        self.message = message


class Breakerd:
    """A connection to the local breakerd, made lazily and re-made after
    failures."""

    def __init__(self, path=None, timeout=0.2, fail_open=True,
                 reconnect=1.0):
        self.path = path or os.environ.get("BREAKERD_SOCKET", DEFAULT_SOCKET)
        self.timeout = timeout
        self.fail_open = fail_open
        self.reconnect = reconnect
        self._sock = None
        self._buf = b""
        self._next_connect = 0.0
        self._lock = threading.Lock()

    def _connect(self, deadline):
        if time.monotonic() < self._next_connect:
            raise ConnectionError("breakerd unreachable (backing off)")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            s.connect(self.path)
        except OSError:
            s.close()
            raise
        self._sock, self._buf = s, b""

    def _drop(self):
        if self._sock is not None:
            self._sock.close()
        self._sock, self._buf = None, b""
        self._next_connect = time.monotonic() + self.reconnect

    def _readline(self, deadline):
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("breakerd did not answer in time")
            self._sock.settimeout(left)
            chunk = self._sock.recv(4096)
            if not chunk:
                raise ConnectionError("breakerd closed the connection")
            self._buf += chunk
            if len(self._buf) > 65536:
                raise ConnectionError("reply line too long")
        line, self._buf = self._buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def request(self, line):
        """Send one single-line request; return the reply line.  Raises
        OSError (unreachable, timeout) or BreakerdError (ERR reply)."""
        if "\n" in line or "\r" in line:
            raise ValueError("one line only")
        with self._lock:
            deadline = time.monotonic() + self.timeout
            try:
                if self._sock is None:
                    self._connect(deadline)
                self._sock.sendall(line.encode() + b"\n")
                reply = self._readline(deadline)
            except OSError:
                self._drop()
                raise
        if reply.startswith("ERR "):
            code, _, msg = reply[4:].partition(" ")
            raise BreakerdError(code, msg)
        return reply

    def allow(self, dep):
        """True if a call to dep may go ahead.  Never raises: without a
        clear answer the fail_open policy decides."""
        try:
            reply = self.request("ALLOW " + dep)
        except (OSError, BreakerdError, ValueError):
            return self.fail_open
        if reply == "OK ALLOW":
            return True
        if reply.startswith("OK DENY"):
            return False
        return self.fail_open

    def report(self, dep, outcome, duration_ms=None):
        """Report a call: outcome "ok", "fail" or "slow"."""
        if outcome not in ("ok", "fail", "slow"):
            raise ValueError("outcome must be ok, fail or slow")
        line = "REPORT %s %s" % (dep, outcome)
        if duration_ms is not None:
            line += " %d" % int(duration_ms)
        self.request(line)

    def get(self, dep):
        """The daemon's view of dep: dict with dep, state, version,
        authority."""
        words = self.request("GET " + dep).split()
        if len(words) < 5 or words[0] != "OK":
            raise BreakerdError("EBADREPLY", "unexpected reply")
        return {"dep": words[1], "state": words[2],
                "version": int(words[3]), "authority": words[4]}

    def close(self):
        with self._lock:
            if self._sock is not None:
                self._sock.close()
            self._sock = None


def main(argv):
    path = None
    if len(argv) > 2 and argv[1] == "-s":
        path = argv[2]
        argv = argv[2:]
    dep = argv[1] if len(argv) > 1 else "payments"
    bd = Breakerd(path, timeout=0.5, fail_open=True)
    if not bd.allow(dep):
        print("%s: denied, failing fast" % dep)
        return 1
    t0 = time.monotonic()
    ok = True  # the real call to the dependency goes here
    try:
        bd.report(dep, "ok" if ok else "fail",
                  (time.monotonic() - t0) * 1000)
        view = bd.get(dep)
    except (OSError, BreakerdError) as exc:
        print("%s: allowed (daemon: %s)" % (dep, exc))
        return 3
    print("%s: allowed; state %s version %d (%s)" % (
        dep, view["state"], view["version"], view["authority"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
