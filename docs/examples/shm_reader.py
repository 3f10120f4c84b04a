#!/usr/bin/env python3
"""shm_reader.py - read breakerd's shared-memory state table with the
standard library only (mmap, struct), so that ALLOW and GET need no round
trip to the daemon.  The layout is documented in docs/protocol.md,
"Shared-memory table".

    from shm_reader import Table
    t = Table("/run/breakerd/breakerd.sock.shm")
    t.allow("payments")   # True / False, or None: ask the socket
    t.get("payments")     # {"state":..., "version":..., "authority":...} or None

What it does not do: pure Python has no atomic read-modify-write, so it
never claims half-open permits, never admits ramped calls and never adds
to the REPORT counters; those answers are None ("ask the socket").  Its
seqlock reads rely on the order in which the CPU performs plain loads:
sound on x86-64, best effort on weaker memory models (arm64), where a torn
read is still caught most of the time but not always -- use the C library
there.

Run it as a script to print every dependency in the table:

    python3 shm_reader.py /run/breakerd/breakerd.sock.shm
"""

import mmap
import os
import struct
import sys
import time

MAGIC = 0x31544D5344524B42
HEADER = struct.Struct("<QIIIIQIIII")   # offset 0
BEAT = struct.Struct("<QI")             # offset 64: heartbeat, status
SLOT = struct.Struct("<IIIIIIIIQI")     # offset 0 of a slot
STATES = ("CLOSED", "OPEN", "HALF_OPEN", "FORCED_OPEN", "DISABLED",
          "METRICS_ONLY")
AUTHORITY = ("authoritative", "stale", "local")
ANSWER_ALLOW, ANSWER_DENY = 1, 2
RAMP_FULL = 1000000
TRIES = 16


class Table:
    """One mapping of the table; remap (make a new Table) when stale()."""

    def __init__(self, path):
        fd = os.open(path, os.O_RDONLY)
        try:
            self.map = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        (magic, version, hsize, self.slot_size, self.nslots, self.boot_id,
         _pid, self.stale_ms, _beat, _drain) = HEADER.unpack_from(self.map)
        if (magic != MAGIC or version != 1 or hsize != 128
                or self.slot_size < 384 or self.slot_size % 64
                or not 1 <= self.nslots <= 65536
                or 128 + self.nslots * self.slot_size > len(self.map)):
            raise ValueError("%s: not a breakerd table this code reads"
                             % path)
        self.index = {}
        for i in range(self.nslots):
            got = self._read(i, name=True)
            if got is not None and got[1] and got[1] not in self.index:
                self.index[got[1]] = (i, got[0][1])

    def stale(self):
        """True when the daemon stopped or its heartbeat stands still."""
        beat, status = BEAT.unpack_from(self.map, 64)
        now = int(time.monotonic() * 1000)  # CLOCK_MONOTONIC on Linux
        return status != 1 or now - beat > self.stale_ms

    def _read(self, i, name=False):
        """The slot's fields (and name) under its seqlock, or None."""
        off = 128 + i * self.slot_size
        for _ in range(TRIES):
            (s1,) = struct.unpack_from("<I", self.map, off)
            if s1 & 1:
                continue
            fields = SLOT.unpack_from(self.map, off)
            raw = self.map[off + 64:off + 136] if name else b""
            (s2,) = struct.unpack_from("<I", self.map, off)
            if s1 == s2 == fields[0]:
                nm = raw.split(b"\0", 1)[0].decode("ascii", "replace") \
                    if b"\0" in raw else ""
                return fields, nm
        return None

    def _slot(self, dep):
        if self.stale() or dep not in self.index:
            return None
        i, gen = self.index[dep]
        got = self._read(i)
        if got is None or got[0][1] != gen:
            return None
        return got[0]

    def allow(self, dep):
        """True or False from the table, or None: ask the socket."""
        f = self._slot(dep)
        if f is None or f[6] < RAMP_FULL:
            return None
        if f[3] == ANSWER_ALLOW:
            return True
        if f[3] == ANSWER_DENY:
            return False
        return None  # held, or half-open permits: the socket decides

    def get(self, dep):
        """{"state", "version", "authority"} from the table, or None."""
        f = self._slot(dep)
        if f is None or f[3] == 0 or f[2] >= len(STATES) \
                or f[4] >= len(AUTHORITY):
            return None
        return {"state": STATES[f[2]], "version": f[8],
                "authority": AUTHORITY[f[4]]}


def main(argv):
    path = argv[1] if len(argv) > 1 else \
        os.environ.get("BREAKERD_SOCKET", "/run/breakerd/breakerd.sock") \
        + ".shm"
    t = Table(path)
    print("%s: %d slots, %s" % (path, t.nslots,
                                "STALE" if t.stale() else "fresh"))
    for dep in sorted(t.index):
        print("%-24s %-8s %s" % (dep, t.allow(dep), t.get(dep)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
