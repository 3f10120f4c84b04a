#!/usr/bin/env python3
"""chaos.py - seeded fault injection against a breakerd fleet, and a checker
of what the fleet's applications and dependencies saw.

    scripts/chaos.py --duration 60 --seed 1 [--instances 3] [--keep]

Starts a 3-node ZooKeeper ensemble (tickTime 500 ms, no fsync), one flaky
HTTP service per dependency (with a request log) and N breakerd instances
(health checks every 200 ms), all through tests/integration/harness.py.
Client threads hammer every instance's socket with GET/ALLOW/REPORT at a
bounded rate and record every answer; a seeded fault loop meanwhile kills
leaders (SIGKILL or SIGTERM) and other instances and restarts them, pauses
leaders (SIGSTOP for up to 3 s, then SIGCONT), restarts an instance under
a wall clock two hours ahead or behind (libfaketime), kills,
pauses and restarts ZooKeeper servers (never more than one of three down,
except the "quorum loss" phase that takes two down for a few seconds),
switches dependencies into outages (error, hang, refuse, slow) and
PUBLISHes states on the leaders.  Then everything heals, each dependency's
leader publishes CLOSED, and the checker verifies:

  versions   the fleet version seen by one daemon process (one connection
             history per pid) never goes backwards;
  answers    every request gets a well-formed, non-ERR answer, and one
             sent to a running daemon is answered within --answer-timeout;
  probers    at most one instance probes a dependency at any time: per
             instance, probes closer than --probe-gap ms form a probing
             interval; intervals of different instances may not overlap
             by more than --inflight ms (a request already on the wire);
  converge   after the last fault heals every instance reports the same
             state and version, authoritative, within --converge seconds;
  crashes    no daemon exited unless we killed it; a SIGTERM exits 0; no
             sanitizer report or "fatal" in any daemon log;
  memory     RSS of every daemon process that lived --rss-min-life s, at
             its end vs 3 s after its start, within --rss-slack-kb plus
             25 % of the start.

It prints a report (faults injected by kind, answers checked, probes
checked, violations) and exits 1 on any violation, 0 otherwise.  The run
directory (configs, logs, history.jsonl, probes, report.json) is kept on
failure or with --keep.  Python 3 standard library only.
"""

import argparse
import collections
import json
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import harness  # noqa: E402

DEPS = ("payments", "ledger")
STATES = {"CLOSED", "OPEN", "HALF_OPEN", "FORCED_OPEN", "DISABLED",
          "METRICS_ONLY"}
AUTHS = {"authoritative", "stale", "local"}
HEALTH_MS = 200
BAD_MARKERS = harness._BAD_LOG_MARKERS + ("fatal",)


def now_ms():
    return time.monotonic() * 1000.0


# ---------------------------------------------------------------- parts

class LoggedFlaky(harness.FlakyService):
    """The flaky service with its per-request log file (-l)."""

    def start(self, timeout=10):
        self.req_log = harness.current().run_dir / ("%s.requests" %
                                                    self.name)
        self.log_file = self.req_log
        return super().start(timeout)

    def probes(self):
        """[(t_ms, instance)] of every request that carried the header,
        except witness checks (a 7th column, the leader): a leader asks for
        those, a bounded number from one witness at a time, so they are
        not probing of the witness's own."""
        out = []
        try:
            text = self.req_log.read_text()
        except OSError:
            return out
        for line in text.splitlines():
            w = line.split()
            if len(w) >= 7:
                continue
            if len(w) >= 4 and w[3] != "-":
                out.append((int(w[0]), w[3]))
        return out


class Instance:
    """One fleet member; its Daemon object is reused across restarts."""

    def __init__(self, name, daemon):
        self.name = name
        self.d = daemon
        self.up = False
        self.epoch = 0            # bumped at every stop and start
        self.paused = False       # SIGSTOPped by the fault loop
        self.lock = threading.Lock()

    @property
    def pid(self):
        return self.d.pid


class History:
    """Everything observed, appended from several threads (list.append is
    atomic in CPython)."""

    def __init__(self):
        self.answers = []         # (inst, pid, t_ms, dep, state, ver, auth)
        self.bad = []             # violation strings
        self.counts = collections.Counter()
        self.faults = collections.Counter()
        self.rss = {}             # pid -> {"inst", "start", "end", "t0", "t1"}
        self.events = []          # (t_ms, text) of faults, for the report

    def violation(self, kind, text):
        self.bad.append("%s: %s" % (kind, text))

    def event(self, text):
        self.events.append((now_ms(), text))


# ---------------------------------------------------------------- clients

class Hammer(threading.Thread):
    """Sends GET/ALLOW/REPORT to one instance at a bounded rate and records
    every answer, tagged with the daemon's pid (read by STATUS on each new
    connection, so a restarted daemon starts a fresh history)."""

    def __init__(self, inst, hist, seed, rate, answer_timeout, chaos):
        super().__init__(daemon=True, name="hammer-" + inst.name)
        self.inst = inst
        self.hist = hist
        self.rng = random.Random(seed)
        self.period = 1.0 / rate
        self.timeout = answer_timeout
        self.chaos = chaos
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            if not self.inst.up:
                time.sleep(0.05)
                continue
            epoch = self.inst.epoch
            try:
                c = harness.Client(self.inst.d.socket_path,
                                   timeout=self.timeout)
            except OSError:
                self.hist.counts["connect_failed"] += 1
                time.sleep(0.1)
                continue
            try:
                self._session(c, epoch)
            finally:
                c.close()

    def _session(self, c, epoch):
        pid = None
        try:
            for ln in c.cmd_multi("STATUS")[1:-1]:
                if ln.startswith("pid="):
                    pid = int(ln[4:])
        except (OSError, AssertionError):
            self._lost(epoch, "STATUS")
            return
        while not self.stop.is_set():
            line = self._request()
            epoch = self.inst.epoch       # a pause or stop meanwhile excuses
            t0 = now_ms()
            try:
                c.send(line)
                reply = c.readline()
            except OSError:
                reply = None
            if reply is None:
                self._lost(epoch, line)
                return
            self._check(pid, t0, line, reply)
            time.sleep(self.period)

    def _request(self):
        dep = self.rng.choice(DEPS)
        r = self.rng.random()
        if r < 0.5:
            return "GET " + dep
        if r < 0.75:
            return "ALLOW " + dep
        fail = self.chaos.outage.get(dep) and self.rng.random() < 0.8
        return "REPORT %s %s %d" % (dep, "fail" if fail else "ok",
                                    self.rng.randrange(1, 50))

    def _lost(self, epoch, line):
        """No answer: fine if the daemon was stopped meanwhile."""
        time.sleep(0.05)
        if self.inst.up and self.inst.epoch == epoch and \
                not self.inst.paused and \
                self.inst.d.alive() and not self.stop.is_set():
            self.hist.violation("answers", "%s: no answer to %r within %ss "
                                "from a running daemon" % (
                                    self.inst.name, line, self.timeout))
        else:
            self.hist.counts["lost_to_restart"] += 1

    def _check(self, pid, t0, line, reply):
        h = self.hist
        h.counts["answers"] += 1
        w = reply.split()
        cmd = line.split()[0]
        if not w or w[0] != "OK":
            h.violation("answers", "%s: %r -> %r" % (self.inst.name, line,
                                                      reply))
            return
        if cmd == "GET":
            if len(w) < 5 or w[2] not in STATES or w[4] not in AUTHS or \
                    not w[3].isdigit():
                h.violation("answers", "%s: bad GET reply %r" % (
                    self.inst.name, reply))
                return
            h.answers.append((self.inst.name, pid, t0, w[1], w[2],
                              int(w[3]), w[4]))
        elif cmd == "ALLOW":
            ok = (len(w) == 2 and w[1] == "ALLOW") or \
                (len(w) == 3 and w[1] == "DENY" and w[2] in STATES)
            if not ok:
                h.violation("answers", "%s: bad ALLOW reply %r" % (
                    self.inst.name, reply))
            h.counts["allow_" + w[1].lower()] += 1
        elif reply != "OK":
            h.violation("answers", "%s: bad REPORT reply %r" % (
                self.inst.name, reply))


# ---------------------------------------------------------------- the run

class Chaos:
    def __init__(self, opts):
        self.o = opts
        self.rng = random.Random(opts.seed)
        self.h = History()
        self.outage = {}
        self.pending = []         # (due_ms, fn, text): heals to do
        self.zk_down = set()
        self.insts = []
        self.flaky = {}
        self.ens = None

    # ---- set-up

    def dep_conf(self, dep):
        return {
            "name": dep,
            "health": {"http": self.flaky[dep].url("/health"),
                       "interval_ms": HEALTH_MS, "jitter_ms": 0,
                       "timeout_ms": 150, "healthy_threshold": 2,
                       "unhealthy_threshold": 3},
            "breaker": {"window_size": 50, "minimum_calls": 20,
                        "open_wait_ms": 2000, "open_wait_max_ms": 4000,
                        "half_open_calls": 3},
            "probe": {"count": 2, "interval_ms": 200},
        }

    def setup(self):
        self.ens = harness.Ensemble(tick_ms=500).start()
        for dep in DEPS:
            f = LoggedFlaky(name="flaky-" + dep)
            f.start()
            self.flaky[dep] = f
        for i in range(self.o.instances):
            name = "inst-%d" % (i + 1)
            d = harness.Daemon(name, deps=[self.dep_conf(x) for x in DEPS],
                               zk=self.ens,
                               overrides={"log_level": "info"})
            self.insts.append(Instance(name, d))
        for inst in self.insts:
            self.start_inst(inst)

    # ---- instance life

    def start_inst(self, inst):
        with inst.lock:
            inst.epoch += 1
            inst.d.start(timeout=20)
            self.h.rss[inst.d.pid] = {"inst": inst.name, "t0": now_ms(),
                                      "start": None, "end": None}
            inst.up = True
            inst.epoch += 1

    def stop_inst(self, inst, sig):
        with inst.lock:
            inst.up = False
            inst.epoch += 1
            pid = inst.d.pid
            self.sample_rss(inst, "end")
            if not inst.d.alive():
                self.h.violation("crashes", "%s pid %s had already exited "
                                 "with %s" % (inst.name, pid,
                                              inst.d.proc.returncode()))
                return
            inst.d.signal(signal.SIGCONT)     # in case it is paused
            inst.paused = False
            try:
                rc = inst.d.stop(sig, timeout=10)
            except AssertionError as exc:
                self.h.violation("crashes", str(exc))
                return
            if sig == signal.SIGTERM and rc != 0:
                self.h.violation("crashes", "%s pid %s exited %s on SIGTERM"
                                 % (inst.name, pid, rc))

    def sample_rss(self, inst, which):
        rec = self.h.rss.get(inst.d.pid)
        kb = inst.d.rss_kb()
        if rec is not None and kb:
            rec[which] = kb
            rec["t1" if which == "end" else "ts"] = now_ms()

    def check_alive(self):
        for inst in self.insts:
            if inst.up and not inst.d.alive():
                self.h.violation("crashes", "%s pid %s died by itself: "
                                 "status %s" % (inst.name, inst.d.pid,
                                                inst.d.proc.returncode()))
                inst.up = False
                inst.epoch += 1
                self.start_inst(inst)
            elif inst.up:
                rec = self.h.rss.get(inst.d.pid)
                if rec and rec["start"] is None and \
                        now_ms() - rec["t0"] > 3000:
                    self.sample_rss(inst, "start")

    def leader_of(self, dep):
        for inst in self.insts:
            if not inst.up or inst.paused:
                continue
            try:
                if inst.d.status().get("leader.%s" % dep) == "1":
                    return inst
            except (OSError, AssertionError):
                pass
        return None

    # ---- faults

    def later(self, delay_s, fn, text):
        self.pending.append((now_ms() + delay_s * 1000, fn, text))

    def heal_due(self, force=False):
        keep = []
        for due, fn, text in self.pending:
            if force or now_ms() >= due:
                fn()
                self.h.event("heal: " + text)
            else:
                keep.append((due, fn, text))
        self.pending = keep

    def f_kill_leader(self):
        dep = self.rng.choice(DEPS)
        inst = self.leader_of(dep)
        if inst is None:
            return False
        sig = self.rng.choice((signal.SIGKILL, signal.SIGTERM))
        self._down(inst, sig, "leader of %s" % dep)
        return "kill_leader_" + ("sigkill" if sig == signal.SIGKILL
                                 else "sigterm")

    def f_restart(self):
        cand = [i for i in self.insts if i.up]
        if len(cand) < 2:
            return False
        inst = self.rng.choice(cand)
        sig = self.rng.choice((signal.SIGKILL, signal.SIGTERM))
        self._down(inst, sig, "any instance")
        return "restart_instance"

    def _down(self, inst, sig, why):
        self.stop_inst(inst, sig)
        self.h.event("%s %s (%s) pid %s" % (signal.Signals(sig).name,
                                            inst.name, why, inst.d.pid))
        self.later(self.rng.uniform(0.5, 3.0),
                   lambda: self.start_inst(inst), "start " + inst.name)

    def f_clock_skew(self):
        """Restart an instance with its wall clock 2 h ahead or behind (or
        right again): its monotonic clock stays right, as on a real host,
        and no answer may change.  The skew stays until the next one."""
        env = harness.faketime_env("+0")
        cand = [i for i in self.insts if i.up and not i.paused]
        if env is None or len(cand) < 2:
            return False
        inst = self.rng.choice(cand)
        offset = self.rng.choice(("+2h", "-2h", None))
        self.stop_inst(inst, signal.SIGTERM)
        inst.d.env = harness.faketime_env(offset) if offset else {}
        self.h.event("SIGTERM %s pid %s, restart with wall clock %s" % (
            inst.name, inst.d.pid, offset or "right"))
        self.later(self.rng.uniform(0.5, 2.0),
                   lambda: self.start_inst(inst), "start " + inst.name)
        return "clock_skew_" + {"+2h": "ahead", "-2h": "behind",
                                None: "right"}[offset]

    def f_pause_leader(self):
        """SIGSTOP a leader (a long GC pause, a frozen VM) for up to 3 s:
        on SIGCONT it must check its lease before it probes again."""
        dep = self.rng.choice(DEPS)
        inst = self.leader_of(dep)
        if inst is None:
            return False
        with inst.lock:
            inst.paused = True
            inst.epoch += 1
            inst.d.signal(signal.SIGSTOP)
        self.h.event("SIGSTOP %s (leader of %s)" % (inst.name, dep))

        def resume():
            with inst.lock:
                inst.d.signal(signal.SIGCONT)
                inst.epoch += 1
                inst.paused = False
        self.later(self.rng.uniform(0.5, 3.0), resume,
                   "SIGCONT " + inst.name)
        return "pause_leader"

    def f_zk_kill(self):
        if self.zk_down:
            return False
        n = self.rng.randrange(1, 4)
        if self.rng.random() < 0.3:
            self.ens.pause(n)
            self.zk_down.add(n)
            self.later(self.rng.uniform(1.0, 3.0),
                       lambda: self._zk_resume(n), "resume zk%d" % n)
            self.h.event("SIGSTOP zk%d" % n)
            return "zk_pause"
        self.ens.kill(n)
        self.zk_down.add(n)
        self.later(self.rng.uniform(1.0, 4.0), lambda: self._zk_up([n]),
                   "restart zk%d" % n)
        self.h.event("SIGKILL zk%d" % n)
        return "zk_kill"

    def f_quorum_loss(self):
        if self.zk_down or not self.o.quorum_loss:
            return False
        ns = self.rng.sample([1, 2, 3], 2)
        for n in ns:
            self.ens.kill(n)
            self.zk_down.add(n)
        self.later(self.rng.uniform(1.5, 3.0), lambda: self._zk_up(ns),
                   "restart zk%s" % ns)
        self.h.event("SIGKILL zk%s (quorum lost)" % ns)
        return "zk_quorum_loss"

    def _zk_resume(self, n):
        self.ens.resume(n)
        self.zk_down.discard(n)

    def _zk_up(self, ns):
        # Restart one at a time: zk-ensemble.sh restart waits for the
        # quorum, which needs both when two are down.
        if len(ns) > 1:
            self.ens._script("start")
        else:
            self.ens.restart(ns[0])
        for n in ns:
            self.zk_down.discard(n)

    def f_outage(self):
        dep = self.rng.choice(DEPS)
        if self.outage.get(dep):
            return False
        mode = self.rng.choice(("error", "hang", "refuse", "slow"))
        self.flaky[dep].set_mode(mode, slow_ms=400 if mode == "slow"
                                 else None)
        self.outage[dep] = mode
        self.later(self.rng.uniform(1.5, 4.0), lambda: self._dep_ok(dep),
                   "%s ok" % dep)
        self.h.event("%s -> %s" % (dep, mode))
        return "dep_outage_" + mode

    def _dep_ok(self, dep):
        self.flaky[dep].set_mode("ok")
        self.outage[dep] = None

    def f_publish(self):
        dep = self.rng.choice(DEPS)
        inst = self.leader_of(dep)
        if inst is None:
            return False
        st = self.rng.choice(("OPEN", "CLOSED", "HALF_OPEN", "OPEN"))
        try:
            r = inst.d.cmd("PUBLISH %s %s chaos" % (dep, st), timeout=10)
        except (OSError, AssertionError) as exc:
            r = "no answer: %s" % exc
        self.h.counts["publish_" + (r.split()[1] if r.startswith("ERR")
                                    else "ok" if r.startswith("OK")
                                    else "lost")] += 1
        self.h.event("PUBLISH %s %s on %s -> %s" % (dep, st, inst.name, r))
        return "publish"

    def fault_loop(self):
        kinds = [(self.f_kill_leader, 3), (self.f_restart, 2),
                 (self.f_pause_leader, 1.5), (self.f_clock_skew, 1.5),
                 (self.f_zk_kill, 3), (self.f_quorum_loss, 0.5),
                 (self.f_outage, 3), (self.f_publish, 3)]
        fns = [k for k, _ in kinds]
        weights = [w for _, w in kinds]
        t_end = now_ms() + self.o.duration * 1000
        while now_ms() < t_end:
            self.heal_due()
            self.check_alive()
            fn = self.rng.choices(fns, weights)[0]
            what = fn()
            if what:
                self.h.faults[what] += 1
            time.sleep(self.rng.uniform(0.5, 2.0))

    # ---- the end

    def heal_all(self):
        self.heal_due(force=True)
        for dep in DEPS:
            if self.outage.get(dep):
                self._dep_ok(dep)
        self.ens.heal()
        self.zk_down.clear()
        self.check_alive()
        for inst in self.insts:
            if not inst.up:
                self.start_inst(inst)

    def final_publish(self):
        """Each dependency's leader publishes CLOSED: the state every
        instance must converge to.  Returns {dep: version}."""
        out = {}
        deadline = time.monotonic() + self.o.converge
        for dep in DEPS:
            while time.monotonic() < deadline:
                inst = self.leader_of(dep)
                if inst is not None:
                    try:
                        r = inst.d.cmd("PUBLISH %s CLOSED chaos-final" % dep,
                                       timeout=10)
                    except (OSError, AssertionError):
                        r = ""
                    if r.startswith("OK "):
                        out[dep] = int(r.split()[1])
                        break
                time.sleep(0.2)
            else:
                self.h.violation("converge", "no leader of %s published "
                                 "within %ss of the heal" % (
                                     dep, self.o.converge))
        return out

    def converge(self, published):
        t0 = time.monotonic()
        last = None

        def views():
            v = {}
            for inst in self.insts:
                for dep in DEPS:
                    try:
                        s = inst.d.state(dep)
                    except (OSError, AssertionError):
                        return None
                    v[(inst.name, dep)] = (s["state"], int(s["version"]),
                                           s["authority"])
            return v

        def same(v):
            if v is None:
                return False
            for dep in DEPS:
                vs = {v[(i.name, dep)] for i in self.insts}
                if len(vs) != 1:
                    return False
                st, ver, auth = vs.pop()
                if auth != "authoritative" or ver < published.get(dep, 0):
                    return False
            return True
        while time.monotonic() - t0 < self.o.converge:
            last = views()
            if same(last):
                took = time.monotonic() - t0
                self.h.counts["converge_ms"] = int(took * 1000)
                return took
            time.sleep(0.1)
        self.h.violation("converge", "instances did not agree within %ss: "
                         "%r" % (self.o.converge, last))
        return None

    def shutdown(self):
        for inst in self.insts:
            if inst.up:
                self.stop_inst(inst, signal.SIGTERM)
        # The ensemble is ours, not the test's: stop it here rather than
        # trusting interpreter exit.
        if self.ens is not None:
            self.ens.stop()

    # ---- checks

    def check_versions(self):
        seen = {}
        for inst, pid, t, dep, st, ver, auth in self.h.answers:
            key = (inst, pid, dep)
            prev = seen.get(key)
            if prev is not None and ver < prev[0]:
                self.h.violation("versions", "%s pid %s %s: version %d "
                                 "after %d (%s %s at t=%.0f)" % (
                                     inst, pid, dep, ver, prev[0], st, auth,
                                     t))
            if prev is None or ver >= prev[0]:
                seen[key] = (ver, t)
        self.h.counts["histories"] = len(seen)

    def check_probes(self):
        total = 0
        for dep, f in self.flaky.items():
            probes = f.probes()
            total += len(probes)
            for a, b in find_overlaps(probes, self.o.probe_gap,
                                      self.o.inflight):
                self.h.violation("probers", "%s: %s probed %.0f..%.0f while "
                                 "%s probed %.0f..%.0f" % ((dep,) + a + b))
        self.h.counts["probes"] = total

    def check_logs(self):
        for inst in self.insts:
            text = inst.d.log_text()
            for m in BAD_MARKERS:
                if m.lower() in text.lower():
                    self.h.violation("crashes", "%s log has %r" % (
                        inst.name, m))

    def check_rss(self):
        """Leaks show as growth; a sanitizer build's RSS grows with its
        allocator quarantine, so there the bound is loose (LeakSanitizer
        reports real leaks at exit, and check_logs finds its report)."""
        n, worst = 0, 0
        slack = self.o.rss_slack_kb
        if sanitized():
            slack = max(slack, 65536)
        for pid, r in self.h.rss.items():
            if r["start"] is None or r["end"] is None:
                continue
            if (r["t1"] - r["t0"]) / 1000 < self.o.rss_min_life:
                continue
            n += 1
            bound = r["start"] + slack + r["start"] // 4
            worst = max(worst, r["end"] - r["start"])
            if r["end"] > bound:
                self.h.violation("memory", "%s pid %s RSS %d kB -> %d kB "
                                 "over %.0fs (bound %d)" % (
                                     r["inst"], pid, r["start"], r["end"],
                                     (r["t1"] - r["t0"]) / 1000, bound))
        self.h.counts["rss_checked"] = n
        self.h.counts["rss_max_growth_kb"] = worst


def sanitized():
    """Is BUILD/breakerd built with AddressSanitizer?"""
    try:
        with open(harness.BUILD / "breakerd", "rb") as fp:
            return b"__asan_init" in fp.read()
    except OSError:
        return False


# The prober rule lives in the harness: one function for chaos and for
# tests/integration/test_partition.py.
probe_intervals = harness.probe_intervals
find_overlaps = harness.probe_overlaps


def report(c, took, rdir):
    h = c.h
    lines = ["chaos report (seed %d, %ds, %d instances, %d deps, build %s)"
             % (c.o.seed, c.o.duration, c.o.instances, len(DEPS),
                harness.BUILD)]
    lines.append("faults injected: %d (%s)" % (
        sum(h.faults.values()), ", ".join("%s=%d" % kv for kv in
                                          sorted(h.faults.items()))))
    lines.append("answers checked: %d (GET histories %d, GET answers %d); "
                 "probes checked: %d" % (
                     h.counts["answers"], h.counts["histories"],
                     len(h.answers), h.counts["probes"]))
    lines.append("RSS lifetimes checked: %d, largest growth %d kB%s" % (
        h.counts["rss_checked"], h.counts["rss_max_growth_kb"],
        " (sanitizer build: loose bound, LeakSanitizer checks leaks)"
        if sanitized() else ""))
    lines.append("publishes: %s; lost to restarts: %d; converged in %s" % (
        ", ".join("%s=%d" % (k[8:], v) for k, v in sorted(h.counts.items())
                  if k.startswith("publish_")) or "none",
        h.counts["lost_to_restart"],
        "%.2fs" % took if took is not None else "NEVER"))
    lines.append("violations: %d" % len(h.bad))
    for b in h.bad[:50]:
        lines.append("  VIOLATION " + b)
    lines.append("run directory: %s" % rdir)
    text = "\n".join(lines)
    print(text)
    summary = {"seed": c.o.seed, "duration": c.o.duration,
               "faults": dict(h.faults), "counts": dict(h.counts),
               "answers": len(h.answers), "violations": h.bad,
               "converge_s": took, "events": h.events}
    (rdir / "report.json").write_text(json.dumps(summary, indent=1))
    with open(rdir / "history.jsonl", "w") as fp:
        for a in h.answers:
            fp.write(json.dumps(a) + "\n")
    return len(h.bad)


def options(argv=None):
    """Parse the command line (argv None: sys.argv)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--rate", type=float, default=40,
                    help="requests per second per instance")
    ap.add_argument("--answer-timeout", type=float, default=5)
    ap.add_argument("--probe-gap", type=float, default=3 * HEALTH_MS + 150)
    ap.add_argument("--inflight", type=float, default=150)
    ap.add_argument("--converge", type=float, default=30)
    ap.add_argument("--rss-min-life", type=float, default=15)
    ap.add_argument("--rss-slack-kb", type=int, default=4096)
    ap.add_argument("--no-quorum-loss", dest="quorum_loss",
                    action="store_false")
    ap.add_argument("--dir", help="run directory (default: a new temp dir)")
    ap.add_argument("--keep", action="store_true")
    o = ap.parse_args(argv)
    if o.instances < 2 or o.duration < 1:
        ap.error("need at least 2 instances and 1 s")
    return o


def run(o, rdir):
    """One chaos run in the current harness context (its processes are
    the context's); returns (violations, the Chaos object)."""
    c = Chaos(o)
    c.took = None
    hammers = []
    try:
        c.setup()
        hammers = [Hammer(inst, c.h, o.seed * 1000 + i, o.rate,
                          o.answer_timeout, c)
                   for i, inst in enumerate(c.insts)]
        for t in hammers:
            t.start()
        c.fault_loop()
        c.heal_all()
        pub = c.final_publish()
        c.took = c.converge(pub)
        for inst in c.insts:
            c.sample_rss(inst, "end")
    finally:
        for t in hammers:
            t.stop.set()
        for t in hammers:
            t.join(o.answer_timeout + 2)
        c.shutdown()
    c.check_versions()
    c.check_probes()
    c.check_logs()
    c.check_rss()
    return report(c, c.took, Path(rdir)), c


def main():
    o = options()
    rdir = Path(o.dir) if o.dir else \
        Path(tempfile.mkdtemp(prefix="breakerd-chaos-"))
    harness.begin_test("chaos", rdir)
    harness.install_signal_handlers()
    bad, _ = run(o, rdir)
    harness.end_test()
    if bad == 0 and not o.keep:
        shutil.rmtree(rdir, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
