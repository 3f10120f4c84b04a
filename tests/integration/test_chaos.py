"""test_chaos.py - a short seeded run of scripts/chaos.py (leader kills,
instance restarts, ZooKeeper server kills and pauses, dependency outages,
PUBLISHes and FORCE overrides under client load), plus self-tests of its
history checker: for every rule of chaos.RULES, a clean synthetic history
passes and one with an injected violation is caught, and each self-test
fails when its rule is disabled.  Longer runs: scripts/chaos.sh, see
docs/reliability.md.
"""

import importlib
import os

import chaos  # scripts/chaos.py (run.py puts scripts/ on sys.path)


TIMEOUT = 150

A = "authoritative"


def _chaos():
    """chaos, freshly executed: a self-test may disable a rule in it."""
    return importlib.reload(chaos)


def _checker(ch):
    """A Chaos object with an empty history and the default bounds."""
    return ch.Chaos(ch.options(["--duration", "1"]))


def _caught(ch, c, rule):
    """Run one rule; the violations it reported."""
    before = len(c.h.bad)
    ch.check(c, rule)
    return [b for b in c.h.bad[before:] if b.startswith(rule + ":")]


def _clean_then_caught(ch, rule, build, inject):
    """build(c) makes a clean history (no violation), inject(c) adds one
    violation that the rule must report."""
    c = _checker(ch)
    build(c)
    assert _caught(ch, c, rule) == [], c.h.bad
    inject(c)
    bad = _caught(ch, c, rule)
    assert bad, "%s: injected violation not caught" % rule
    return bad


# ---------------------------------------------------------------- self-tests
# One per rule, named self_<rule>; each takes the chaos module.

def self_versions(ch):
    def build(c):
        c.h.answers = [("i1", 10, 1, "p", "OPEN", 5, A),
                       ("i1", 10, 2, "p", "OPEN", 6, A),
                       ("i1", 11, 3, "p", "CLOSED", 2, "local"),  # new pid
                       ("i1", 11, 4, "p", "OPEN", 6, A)]
    bad = _clean_then_caught(ch, "versions", build, lambda c: c.h.answers
                             .append(("i1", 11, 5, "p", "OPEN", 4, "stale")))
    assert len(bad) == 1 and "version 4 after 6" in bad[0], bad


class _Flaky:
    def __init__(self, probes):
        self.list = probes

    def probes(self):
        return self.list


def self_probers(ch):
    a = [(t, "a") for t in range(0, 2000, 200)]

    def build(c):
        c.flaky = {"p": _Flaky(a + [(t, "b") for t in range(1900, 4000,
                                                             200)])}

    def inject(c):
        c.flaky["p"].list.append((1000, "b"))       # one stray probe
    _clean_then_caught(ch, "probers", build, inject)


class _Inst:
    def __init__(self, name, log):
        self.name = name
        self.d = self
        self.log = log

    def log_text(self):
        return self.log


def self_crashes(ch):
    def build(c):
        c.insts = [_Inst("i1", "info: fine\n")]

    def inject(c):
        c.insts[0].log += "==1==ERROR: AddressSanitizer: heap-use-after-free"
    _clean_then_caught(ch, "crashes", build, inject)


def self_memory(ch):
    def build(c):
        c.h.rss = {1: {"inst": "i1", "start": 8000, "end": 8100, "t0": 0,
                       "t1": 60000}}

    def inject(c):
        c.h.rss[2] = {"inst": "i2", "start": 8000, "end": 900000, "t0": 0,
                      "t1": 60000}
    _clean_then_caught(ch, "memory", build, inject)


def self_allow_agrees(ch):
    def build(c):
        c.h.triples = [("i1", 1, "p", ("OPEN", 3, A), ("DENY", "OPEN")),
                       ("i1", 2, "p", ("CLOSED", 4, A), ("ALLOW", None)),
                       ("i1", 3, "p", ("HALF_OPEN", 5, A), ("ALLOW", None)),
                       ("i1", 4, "p", ("HALF_OPEN", 5, A),
                        ("DENY", "HALF_OPEN"))]

    def inject(c):
        c.h.triples.append(("i2", 5, "p", ("FORCED_OPEN", 5, A),
                            ("ALLOW", None)))
    _clean_then_caught(ch, "allow_agrees", build, inject)
    # A DENY naming another state than GET showed.
    c = _checker(ch)
    c.h.triples = [("i1", 1, "p", ("OPEN", 3, A), ("DENY", "HALF_OPEN"))]
    assert _caught(ch, c, "allow_agrees")


def _write(cmd, dep, state, t0, t1, reply, lease=1000, leader=True,
           ttl_ms=None, connected=True):
    return {"cmd": cmd, "inst": "i1", "dep": dep, "state": state,
            "ttl_ms": ttl_ms, "t0": t0, "t1": t1, "reply": reply,
            "lease_ms": lease, "leader": leader, "connected": connected}


def self_allow_after_open(ch):
    def build(c):
        c.h.writes = [_write("PUBLISH", "p", "OPEN", 1000, 1010, "OK 7"),
                      _write("FORCE", "q", "FORCED_OPEN", 1000, 1010, "OK 1",
                             ttl_ms=20000)]
        c.h.answers = [("i2", 9, 500, "p", "CLOSED", 6, A),
                       # within the propagation bound: allowed
                       ("i2", 9, 1600, "p", "OPEN", 7, A),
                       # a cut-off instance answers from what it knew
                       ("i3", 8, 9000, "p", "CLOSED", 6, "stale"),
                       ("i2", 9, 9000, "q", "FORCED_OPEN", 3, A),
                       ("i3", 8, 9000, "q", "CLOSED", 3, "stale")]
        c.h.allows = [("i2", 9, 1500, "p", "ALLOW", None),
                      ("i3", 8, 8000, "p", "ALLOW", None),
                      ("i3", 8, 8000, "q", "ALLOW", None)]

    def inject(c):
        # Authoritative, 5 s after the commit, and still on v6: it allowed.
        c.h.answers.append(("i4", 7, 6100, "p", "CLOSED", 6, A))
        c.h.allows.append(("i4", 7, 6000, "p", "ALLOW", None))
    _clean_then_caught(ch, "allow_after_open", build, inject)

    def inject_force(c):
        c.h.answers.append(("i4", 7, 6100, "q", "CLOSED", 3, A))
        c.h.allows.append(("i4", 7, 6000, "q", "ALLOW", None))
    _clean_then_caught(ch, "allow_after_open", build, inject_force)


def self_two_leaders(ch):
    def build(c):
        # a leads, hands over to b between polls; b leads after.
        c.h.polls = [("a", 0, 10, frozenset({"p"})),
                     ("a", 250, 260, frozenset({"p"})),
                     ("a", 500, 510, frozenset()),
                     ("b", 300, 310, frozenset()),
                     ("b", 550, 560, frozenset({"p"})),
                     ("b", 800, 810, frozenset({"p"}))]

    def inject(c):
        c.h.polls.append(("a", 700, 710, frozenset({"p"})))
        c.h.polls.append(("a", 950, 960, frozenset({"p"})))
    _clean_then_caught(ch, "two_leaders", build, inject)


def self_lease(ch):
    def build(c):
        c.h.writes = [_write("PUBLISH", "p", "OPEN", 10, 20, "OK 3"),
                      _write("PUBLISH", "p", "OPEN", 30, 40,
                             "ERR EUNAVAIL no lease", lease=0),
                      # any instance may FORCE; only leaders keep a lease
                      _write("FORCE", "p", "FORCED_OPEN", 50, 60, "OK 1",
                             leader=False, lease=0)]
        c.h.quorum_lost = [[100, 5000]]

    # Each of these writes breaks the rule on its own: no lease, not
    # connected, quorum lost, not the leader.
    for w in (_write("PUBLISH", "p", "OPEN", 70, 80, "OK 2", lease=0),
              _write("FORCE", "p", "FORCED_OPEN", 70, 80, "OK 2",
                     connected=False),
              _write("PUBLISH", "p", "OPEN", 200, 300, "OK 9"),
              _write("PUBLISH", "p", "OPEN", 70, 80, "OK 4", leader=False)):
        _clean_then_caught(ch, "lease", build,
                           lambda c, w=w: c.h.writes.append(w))


def self_liveness(ch):
    deps = frozenset(ch.DEPS)

    def build(c):
        c.h.disturb = [1000, 30000, 50000]
        c.h.zk_ok = [(t, t + 5, t < 50000 or t > 52000)
                     for t in range(0, 80000, 300)]
        c.h.polls = [("a", 500, 510, deps),
                     ("b", 4000, 4010, deps),      # 3 s after the fault
                     ("b", 33000, 33010, deps),
                     # ZooKeeper serves again at 52100: 7 s later is in time
                     ("b", 59000, 59010, deps),
                     ("b", 80000, 80010, deps)]

    def inject(c):
        # Leadership of one dependency is never back after a fourth fault.
        c.h.disturb.append(60000)
        c.h.polls.append(("b", 70000, 70010, frozenset(ch.DEPS[:1])))
    _clean_then_caught(ch, "liveness", build, inject)

    # No check while ZooKeeper does not serve.
    c = _checker(ch)
    c.h.disturb = [1000]
    c.h.zk_ok = [(t, t + 5, False) for t in range(0, 20000, 300)]
    c.h.polls = [("a", 19000, 19010, frozenset())]
    assert _caught(ch, c, "liveness") == []


def self_stale(ch):
    def build(c):
        c.h.quorum_lost = [[10000, 20000]]
        c.h.answers = [("i1", 9, 10500, "p", "OPEN", 3, A),   # not yet
                       ("i1", 9, 15000, "p", "OPEN", 3, "stale"),
                       ("i1", 9, 21000, "p", "OPEN", 3, A)]   # healed

    def inject(c):
        c.h.answers.append(("i2", 8, 16000, "p", "OPEN", 3, A))
    _clean_then_caught(ch, "stale", build, inject)


def self_same_state(ch):
    def build(c):
        c.h.writes = [_write("PUBLISH", "p", "OPEN", 10, 20, "OK 5"),
                      _write("PUBLISH", "p", "CLOSED", 30, 40, "OK 6")]
        c.h.answers = [("i1", 9, 25, "p", "OPEN", 5, A),
                       ("i2", 8, 26, "p", "FORCED_OPEN", 5, A),
                       ("i3", 7, 27, "p", "CLOSED", 5, "local"),
                       # v6 is CLOSED: the local breaker may say OPEN
                       ("i1", 9, 45, "p", "OPEN", 6, A)]

    def inject(c):
        c.h.answers.append(("i3", 7, 28, "p", "CLOSED", 5, "stale"))
    _clean_then_caught(ch, "same_state", build, inject)


def self_latency(ch):
    def build(c):
        c.h.lat = [("i1", 0, 5, "GET p", False),
                   ("i1", 10, 9000, "GET p", True),        # paused meanwhile
                   # held at start-up until the state was read
                   ("i1", 10, 10 + c.o.latency + 1000, "GET p", "startup")]

    def inject(c):
        c.h.lat.append(("i2", 10, 10 + c.o.latency + 1, "ALLOW p", False))
    _clean_then_caught(ch, "latency", build, inject)

    def inject_startup(c):
        c.h.lat.append(("i2", 10, 10 + c.o.latency + ch.STARTUP_WAIT_MS + 1,
                        "ALLOW p", "startup"))
    _clean_then_caught(ch, "latency", build, inject_startup)


SELF_TESTS = {name[5:]: fn for name, fn in list(globals().items())
              if name.startswith("self_") and callable(fn)}


def test_every_rule_has_a_self_test():
    ch = _chaos()
    assert sorted(SELF_TESTS) == sorted(ch.RULES), \
        "rules without a self-test: %r; self-tests without a rule: %r" % (
            sorted(set(ch.RULES) - set(SELF_TESTS)),
            sorted(set(SELF_TESTS) - set(ch.RULES)))


def test_rules_catch_injected_violations():
    ch = _chaos()
    for name, fn in sorted(SELF_TESTS.items()):
        fn(ch)


def test_self_tests_fail_without_their_rule():
    """Each rule disabled in turn: its self-test must fail."""
    for name, fn in sorted(SELF_TESTS.items()):
        ch = _chaos()
        ch.RULES[name] = (lambda c: None, "disabled")
        try:
            fn(ch)
        except AssertionError:
            continue
        raise AssertionError("self-test of %r passes with the rule off"
                             % name)


def test_checker_finds_double_probers():
    """Interleaved probes of two instances are a violation, and so are a
    single stray probe or two close ones inside another's interval; a
    clean handover (with or without a gap) and one in-flight request are
    not."""
    ch = _chaos()
    a = [(t, "a") for t in range(0, 2000, 200)]
    both = a + [(t, "b") for t in range(100, 2000, 200)]
    assert ch.find_overlaps(both, 750, 150), "interleaving not found"
    assert ch.find_overlaps(a + [(1000, "b")], 750, 150), "stray probe"
    assert ch.find_overlaps(a + [(900, "b"), (1000, "b")], 750, 150), \
        "two probes 100 ms apart"
    handover = a + [(t, "b") for t in range(4000, 6000, 200)]
    assert ch.find_overlaps(handover, 750, 150) == []
    inflight = a + [(t, "b") for t in range(1750, 4000, 200)]  # 50 ms early
    assert ch.find_overlaps(inflight, 750, 150) == []
    back = handover + [(t, "a") for t in range(8000, 9000, 200)]
    assert ch.find_overlaps(back, 750, 150) == []


def test_converge_needs_the_published_state():
    """Agreeing on a wrong state (or version, or authority) is not
    converging."""
    ch = _chaos()
    names = ["i1", "i2"]

    def views(st, ver=7, auth=A, st2=None):
        return {(n, d): (st2 if st2 and n == "i2" else st, ver, auth)
                for n in names for d in ch.DEPS}
    pub = {d: 7 for d in ch.DEPS}
    assert ch.converged(views("CLOSED"), names, pub)
    assert not ch.converged(views("OPEN"), names, pub)
    assert not ch.converged(views("CLOSED", ver=6), names, pub)
    assert not ch.converged(views("CLOSED", auth="stale"), names, pub)
    assert not ch.converged(views("CLOSED", st2="OPEN"), names, pub)
    assert not ch.converged(None, names, pub)


def test_chaos_short_run(run_dir):
    """~40 s of seeded faults: no violation of any checked property."""
    ch = _chaos()
    seed = int(os.environ.get("CHAOS_SEED", "11"))
    # One quorum loss for sure, 10 s in, so that the stale rule sees one.
    o = ch.options(["--duration", os.environ.get("CHAOS_DURATION", "40"),
                    "--seed", str(seed), "--quorum-loss-at", "10"])
    bad, c = ch.run(o, run_dir)
    assert sum(c.h.faults.values()) >= 5, "too few faults: %r" % c.h.faults
    assert len(c.h.answers) > 500, "too few answers checked"
    assert c.h.counts["probes"] > 50, "too few probes checked"
    assert len(c.h.polls) > 100, "too few STATUS polls"
    assert c.h.counts["allow_triples"] > 10, "too few ALLOW/GET triples"
    assert c.h.counts["writes_ok"] >= 2, "too few PUBLISH/FORCE answered OK"
    assert c.h.counts["liveness_checked"] >= 1, "liveness never checked"
    assert c.h.counts["stale_windows"] >= 1, "no quorum loss to check"
    assert bad == 0, "chaos violations:\n" + "\n".join(c.h.bad[:20])
