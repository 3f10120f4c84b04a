"""test_chaos.py - a short seeded run of scripts/chaos.py (leader kills,
instance restarts, ZooKeeper server kills and pauses, dependency outages
and PUBLISHes under client load), plus checks that its history checker
really finds what it looks for.  Longer runs: scripts/chaos.sh, see
docs/reliability.md.
"""

import importlib.util
import os
from pathlib import Path


TIMEOUT = 150

_CHAOS = Path(__file__).resolve().parents[2] / "scripts" / "chaos.py"


def _chaos():
    spec = importlib.util.spec_from_file_location("chaos", _CHAOS)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_checker_finds_double_probers():
    """Interleaved probes of two instances are a violation; a clean
    handover (with or without a gap) and one in-flight request are not."""
    ch = _chaos()
    both = [(t, "a") for t in range(0, 2000, 200)] + \
        [(t, "b") for t in range(100, 2000, 200)]
    assert ch.find_overlaps(both, 750, 150), "interleaving not found"
    handover = [(t, "a") for t in range(0, 2000, 200)] + \
        [(t, "b") for t in range(4000, 6000, 200)]
    assert ch.find_overlaps(handover, 750, 150) == []
    inflight = [(t, "a") for t in range(0, 2000, 200)] + \
        [(t, "b") for t in range(1750, 4000, 200)]   # b starts 50 ms early
    assert ch.find_overlaps(inflight, 750, 150) == []
    back = handover + [(t, "a") for t in range(8000, 9000, 200)]
    assert ch.find_overlaps(back, 750, 150) == []


def test_checker_finds_version_regression():
    """A version going backwards within one process is a violation; a
    restarted process (new pid) starts a fresh history."""
    ch = _chaos()
    c = ch.Chaos(ch.options(["--duration", "1"]))
    c.h.answers = [("i1", 10, 1, "p", "OPEN", 5, "authoritative"),
                   ("i1", 10, 2, "p", "OPEN", 6, "authoritative"),
                   ("i1", 11, 3, "p", "CLOSED", 2, "local"),   # new pid
                   ("i1", 11, 4, "p", "OPEN", 6, "authoritative")]
    c.check_versions()
    assert c.h.bad == [], c.h.bad
    c.h.answers.append(("i1", 11, 5, "p", "OPEN", 4, "stale"))
    c.check_versions()
    assert len(c.h.bad) == 1 and "version 4 after 6" in c.h.bad[0], c.h.bad


def test_chaos_short_run(run_dir):
    """~40 s of seeded faults: no violation of any checked property."""
    ch = _chaos()
    seed = int(os.environ.get("CHAOS_SEED", "11"))
    o = ch.options(["--duration", os.environ.get("CHAOS_DURATION", "40"),
                    "--seed", str(seed)])
    bad, c = ch.run(o, run_dir)
    assert sum(c.h.faults.values()) >= 5, "too few faults: %r" % c.h.faults
    assert len(c.h.answers) > 500, "too few answers checked"
    assert c.h.counts["probes"] > 50, "too few probes checked"
    assert bad == 0, "chaos violations:\n" + "\n".join(c.h.bad[:20])
