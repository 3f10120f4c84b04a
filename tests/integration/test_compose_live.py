"""test_compose_live.py - docker-compose.yml run for real on a Docker
engine: the images built here (scripts/docker-images.sh: no registry
needed), the fleet up, then the drills of docs/docker.md, checked.

Skipped, with the reason, when no Docker engine answers or no compose
command is installed.  Under CI=true, once an engine answers, a failure
to build or start is a failure, not a skip.

One fleet for the module, under its own compose project (bd-PID), its own
subnet (BREAKERD_NET, chosen free), its own flaky control port and its
own ZooKeeper credential, so parallel runs do not clash:

  up            base images, compose build, up -d; every service healthy
                within a bound;
  authoritative every breakerd answers LIST `authoritative`, and each
                dependency has exactly one leader;
  legacy app    its log shows allowed calls;
  acl           an unauthenticated ZooKeeper client cannot write the
                state, override or election znodes (NOAUTH), while the
                credential can;
  break/mend    flaky -> error: OPEN on all three within a bound, and the
                flaky service's request log (by source address) shows one
                prober, the leader; flaky -> ok: CLOSED everywhere;
  kill leader   `compose kill`: another instance leads within session
                timeout + tickTime + 1 s of the kill, state kept;
  stop leader   `compose stop`: another leads < 500 ms after the old
                leader's SIGTERM (both times from the daemons' logs; the
                bound is scaled by the load average per core when that
                exceeds 1, and the output says so);
  partition     `docker network disconnect` of the leader: it answers
                `stale`, the others elect a leader, two probers never
                overlap (request log), all converge after `connect`;
  down          `down -v` leaves no container, network or volume.

Every container's log is saved in the test's run directory (kept when a
test fails).  Only docker objects of this project are touched.
"""

import atexit
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import bdlib
from bdlib import ROOT, Client, MiniZk, Skip, wait_until

TIMEOUT = 240
BD = ("breakerd-a", "breakerd-b", "breakerd-c")
ZK = ("zk1", "zk2", "zk3")
SERVICES = ZK + ("flaky",) + BD + ("legacy-app",)
SESSION_S, TICK_S = 3.0, 0.5
ZK_ROOT = "/breakerd/compose"
CI = os.environ.get("CI") == "true"

_F = {"proj": None, "env": None, "cmd": None, "up": False, "dir": None,
      "down": False}


# ------------------------------------------------------------- plumbing

def compose_cmd():
    """`docker compose` when it answers, else docker-compose, else None."""
    r = subprocess.run(["docker", "compose", "version"],
                       capture_output=True, text=True)
    if r.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def dc(*args, timeout=120, check=True):
    """Run the compose command on our project; CompletedProcess."""
    r = subprocess.run(_F["cmd"] + ["-p", _F["proj"]] + list(args),
                       cwd=str(ROOT), env=_F["env"], capture_output=True,
                       text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, "compose %s failed (%d):\n%s%s" % (
            " ".join(args), r.returncode, r.stdout, r.stderr)
    return r


def docker(*args, timeout=60, check=True):
    r = subprocess.run(["docker"] + list(args), capture_output=True,
                       text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, "docker %s failed:\n%s%s" % (
            " ".join(args), r.stdout, r.stderr)
    return r


def cid(svc):
    """The container id of a service (running or not)."""
    r = dc("ps", "-a", "-q", svc)
    ids = r.stdout.split()
    assert len(ids) == 1, "service %s: containers %r" % (svc, ids)
    return ids[0]


def inspect(svc, fmt):
    return docker("inspect", "-f", fmt, cid(svc)).stdout.strip()


def ip_of(svc):
    return inspect(svc, "{{range .NetworkSettings.Networks}}"
                   "{{.IPAddress}} {{end}}").split()


def free_subnet():
    """First three octets of a /24 that no docker network or host route
    uses (10.212.N with N from our pid; the netns tests use 10.213)."""
    used = set()
    r = docker("network", "ls", "-q")
    for n in r.stdout.split():
        used.update(docker("network", "inspect", "-f",
                           "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
                           n, check=False).stdout.split())
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True,
                            text=True).stdout
    for i in range(200):
        net = "10.212.%d" % ((os.getpid() + i) % 200 + 20)
        if not any(u.startswith(net + ".") for u in used) and \
                (net + ".") not in routes:
            return net
    raise AssertionError("no free 10.212.x.0/24 subnet")


def status(svc):
    """{key: value} of the daemon's STATUS, from its socket in the volume
    (the host sees it), else through `docker exec breakerctl status`."""
    sock = _F["socks"].get(svc)
    if sock and os.access(sock, os.W_OK):
        try:
            with Client(sock, timeout=2) as c:
                lines = c.cmd_multi("STATUS")
            return dict(ln.split("=", 1) for ln in lines if "=" in ln)
        except OSError:
            return {}
    r = docker("exec", cid(svc), "breakerctl", "status", check=False,
               timeout=10)
    out = {}
    for ln in r.stdout.splitlines():
        parts = ln.split(None, 1)
        if len(parts) == 2:
            out[parts[0]] = parts[1].strip()
    return out


def dep(st, name="payments"):
    """(state, version, authority, leader?) of dep.NAME in a STATUS."""
    v = st.get("dep." + name, "").split()
    if len(v) < 3:
        return None
    return v[0], int(v[1]), v[2], "leader" in v[3:]


def leaders(name="payments", among=BD):
    return [s for s in among
            if status(s).get("leader." + name) == "1"]


def log_times(svc, pattern):
    """Times (UTC datetimes) of the daemon's log lines matching pattern;
    breakerd stamps its lines with its own clock (ms)."""
    r = dc("logs", "--no-color", svc, check=False)
    out = []
    for ln in r.stdout.splitlines():
        m = re.search(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z "
                      r"breakerd\[\d+\] \w+: (.*)", ln)
        if m and re.search(pattern, m.group(2)):
            out.append(datetime.strptime(m.group(1) + "+0000",
                                         "%Y-%m-%dT%H:%M:%S.%f%z"))
    return out


def docker_time(s):
    """A docker timestamp (RFC 3339, nanoseconds) as a datetime."""
    s = re.sub(r"(\.\d{6})\d*", r"\1", s.strip().replace("Z", "+0000"))
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z")


def requests():
    """The flaky service's request log: [(t_ms, src_ip, path, witness)]
    (t_ms is CLOCK_MONOTONIC, the host's: containers share the kernel's
    clock; witness: a witness check, which the log marks with a sixth
    word, the leader it checks for)."""
    r = docker("exec", cid("flaky"), "cat",
               "/var/lib/breakerd/flaky-requests.log", check=False)
    out = []
    for ln in r.stdout.splitlines():
        f = ln.split()
        if len(f) >= 3:
            out.append((int(f[0]), f[1].rsplit(":", 1)[0], f[2],
                        len(f) >= 6))
    return out


def health_sources(since_ms, until_ms=None):
    """[(t_ms, src)] of the health checks and probes in a window (not the
    witness checks another instance makes for the leader before a trip:
    those are one-off second opinions, not probing)."""
    return [(t, s) for t, s, p, w in requests()
            if p == "/payments/health" and not w and t >= since_ms
            and (until_ms is None or t <= until_ms)]


def overlaps(reqs, gap_ms=1500, margin_ms=250):
    """Pairs of probing intervals of two sources that overlap (a source's
    requests closer than gap_ms form one interval; margin_ms allows a
    request already on the wire at a handover)."""
    ivs = []
    cur = {}
    for t, s in sorted(reqs):
        if s in cur and t - cur[s][1] <= gap_ms:
            cur[s][1] = t
        else:
            if s in cur:
                ivs.append((cur[s][0], cur[s][1], s))
            cur[s] = [t, t]
    ivs += [(a, b, s) for s, (a, b) in cur.items()]
    ivs.sort()
    bad = []
    for i, (a1, b1, s1) in enumerate(ivs):
        for a2, b2, s2 in ivs[i + 1:]:
            if a2 > b1:
                break
            if s1 != s2 and min(b1, b2) - max(a1, a2) > margin_ms:
                bad.append(((s1, a1, b1), (s2, a2, b2)))
    return bad


def load_factor():
    """How overloaded the machine is: the 1-minute load average per core,
    at least 1.  A bound of a few hundred ms that CPU starvation alone can
    break (an idle 2-core VM: 35-50 ms; load 17: 590 ms) is scaled by it,
    and says so."""
    return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


def now_ms():
    return int(time.monotonic() * 1000)


def save_logs():
    """Every container's log (and the request log) into the run dir."""
    if not _F["proj"] or _F["down"]:
        return
    d = bdlib.run_dir()
    for svc in SERVICES:
        r = dc("logs", "--no-color", "-t", svc, check=False)
        (d / ("%s.log" % svc)).write_text(r.stdout + r.stderr)
    r = docker("exec", cid("flaky"), "cat",
               "/var/lib/breakerd/flaky-requests.log", check=False)
    (d / "flaky-requests.log").write_text(r.stdout)
    (d / "ps.txt").write_text(dc("ps", "-a", check=False).stdout)


class live:
    """`with live():` around a test that needs the fleet up: skips when it
    is not, saves every container's log when the test fails."""

    def __enter__(self):
        if not _F["up"]:
            raise Skip("the compose fleet is not up (see test_live_up)")
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and exc_type is not Skip:
            save_logs()
        return False


def _down():
    """`down -v` of our project (atexit too): nothing may stay."""
    if _F["proj"] and not _F["down"] and _F["cmd"]:
        dc("down", "-v", "--remove-orphans", "-t", "5", timeout=180,
           check=False)
        _F["down"] = True
    if _F["dir"]:
        shutil.rmtree(_F["dir"], ignore_errors=True)
        _F["dir"] = None


atexit.register(_down)


def wait_all(pred, timeout, msg):
    """Wait until pred(status) holds for every breakerd; the statuses."""
    def ok():
        sts = {s: status(s) for s in BD}
        return sts if all(pred(st) for st in sts.values()) else None
    return wait_until(ok, timeout, interval=0.2, msg=msg)


# ------------------------------------------------------------- tests

def test_live_up():
    """Build every image (no registry) and bring the fleet up healthy."""
    if shutil.which("docker") is None:
        raise Skip("no docker client installed: the compose fleet is not "
                   "run")
    if docker("version", check=False).returncode != 0:
        raise Skip("no Docker engine answers (`docker version` failed): "
                   "the compose fleet is not run")
    _F["cmd"] = compose_cmd()
    if _F["cmd"] is None:
        if CI:
            raise AssertionError("a Docker engine answers but neither "
                                 "`docker compose` nor docker-compose is "
                                 "installed")
        raise Skip("no `docker compose` nor docker-compose installed")
    _F["proj"] = "bd-%d" % os.getpid()
    _F["dir"] = tempfile.mkdtemp(prefix="bd-compose-")
    os.chmod(_F["dir"], 0o700)
    cred = Path(_F["dir"]) / "zk-credential"
    env = dict(os.environ, BREAKERD_NET=free_subnet(),
               BREAKERD_FLAKY_PORT=str(bdlib.free_port()),
               BREAKERD_ZK_CREDENTIAL=str(cred),
               COMPOSE_PROJECT_NAME=_F["proj"])
    _F["env"] = env
    _F["net"] = env["BREAKERD_NET"]
    t0 = time.monotonic()
    r = subprocess.run([str(ROOT / "scripts" / "docker-images.sh"), "base"],
                       env=env, capture_output=True, text=True, timeout=600)
    build = [r]
    if r.returncode == 0:
        r = subprocess.run([str(ROOT / "scripts" / "docker-images.sh"),
                            "credential"], env=env, capture_output=True,
                           text=True, timeout=60)
        build.append(r)
    if r.returncode == 0:
        r = subprocess.run([str(ROOT / "scripts" / "docker-images.sh"),
                            "build"], env=dict(env, COMPOSE=" ".join(
                                _F["cmd"])), cwd=str(ROOT),
                           capture_output=True, text=True, timeout=900)
        build.append(r)
    if r.returncode != 0:
        text = "\n".join(x.stdout[-3000:] + x.stderr[-3000:] for x in build)
        (bdlib.run_dir() / "build.log").write_text(text)
        if not CI:
            raise Skip("images could not be built here (not CI): %s" %
                       text.strip().splitlines()[-1:])
        raise AssertionError("building the images failed:\n" + text)
    built = time.monotonic() - t0
    assert "breakerd:" in cred.read_text()
    _F["up"] = True
    try:
        dc("up", "-d", timeout=300)
        _F["socks"] = {}
        for s in BD:
            mp = docker("volume", "inspect", "-f", "{{.Mountpoint}}",
                        "%s_%s-run" % (_F["proj"], s)).stdout.strip()
            _F["socks"][s] = os.path.join(mp, "breakerd.sock")

        def healthy():
            hs = {s: inspect(s, "{{if .State.Health}}{{.State.Health.Status}}"
                             "{{else}}{{.State.Status}}{{end}}")
                  for s in SERVICES}
            return hs if all(v == "healthy" for v in hs.values()) else None
        hs = wait_until(healthy, 180, interval=1,
                        msg="every service healthy")
        print("     images built in %.0f s, fleet healthy after %.0f s: %s"
              % (built, time.monotonic() - t0 - built, sorted(hs)))
    except BaseException:
        save_logs()
        raise


test_live_up.timeout = 1200


def test_live_authoritative_one_leader():
    """Every breakerd answers LIST `authoritative`; one leader per dep."""
    with live():
        for s in BD:
            r = docker("exec", cid(s), "breakerctl", "list")
            rows = [ln.split() for ln in r.stdout.splitlines()[1:] if ln]
            assert {x[0] for x in rows} == {"payments", "ledger-db"}, r.stdout
            assert all(x[-1] == "authoritative" for x in rows), (s, r.stdout)
        for d in ("payments", "ledger-db"):
            ls = wait_until(lambda: len(leaders(d)) == 1 and leaders(d), 15,
                            interval=0.2, msg="one leader of " + d)
            assert len(ls) == 1, ls


def test_live_legacy_app_allowed():
    """The application beside breakerd-a calls through it: allowed."""
    with live():
        def allowed():
            out = dc("logs", "--no-color", "legacy-app", check=False).stdout
            return re.search(r"\d\d:\d\d:\d\d allowed ok 200", out)
        wait_until(allowed, 30, interval=0.5, msg="an allowed call in the "
                   "legacy-app log")


def test_live_unauthenticated_write_refused():
    """Without the credential: NOAUTH on every write; with it: fine."""
    with live():
        zk = "%s.11:2181" % _F["net"]
        base = ZK_ROOT + "/deps/payments"
        with MiniZk(zk) as z:
            data, _ = z.get(base + "/state")
            assert json.loads(data.decode())["state"] in ("CLOSED", "OPEN")
            for i, exc in enumerate(bdlib.try_dep_writes(z, base)):
                assert exc is not None, \
                    "unauthenticated write %d succeeded" % i
                assert exc.code == -102, "write %d: %s" % (i, exc)
        assert status("breakerd-a").get("zk_auth") == "1"


def test_live_break_and_mend():
    """flaky error: OPEN everywhere, one prober; ok: CLOSED everywhere."""
    with live():
        (lead,) = wait_until(lambda: leaders() if len(leaders()) == 1 else None,
                             15, msg="one leader of payments")
        lead_ip = ip_of(lead)
        legacy_ip = ip_of("legacy-app")
        t0 = now_ms()
        r = docker("exec", cid("flaky"), "docker-entrypoint.sh", "flaky-mode",
                   "error")
        assert "200" in r.stdout, r.stdout
        wait_all(lambda st: (dep(st) or ("",))[0] == "OPEN", 20,
                 "payments OPEN on all three")
        t_open = now_ms()
        src = health_sources(t0)
        assert src, "no health check reached the flaky service"
        assert {s for _, s in src} == set(lead_ip), \
            "health checks from %r, leader %s is %r" % (
                sorted({s for _, s in src}), lead, lead_ip)
        assert not set(legacy_ip) & {s for _, s in src}
        docker("exec", cid("flaky"), "docker-entrypoint.sh", "flaky-mode", "ok")
        sts = wait_all(lambda st: (dep(st) or ("",))[0] == "CLOSED", 40,
                       "payments CLOSED on all three")
        src = health_sources(t_open)
        assert src and not overlaps(src), overlaps(src)
        assert len({s for _, s in src}) == 1, "probes from %r" % (
            sorted({s for _, s in src}))
        vers = {dep(st)[1] for st in sts.values()}
        assert len(vers) == 1 and vers.pop() >= 2, sts


def test_live_kill_leader():
    """SIGKILL the leader: a new one within T + tick + 1 s; state kept."""
    with live():
        (lead,) = wait_until(lambda: leaders() if len(leaders()) == 1 else None,
                             15, msg="one leader of payments")
        before = dep(status(lead))
        others = [s for s in BD if s != lead]
        try:
            dc("kill", lead)
            t_kill = docker_time(inspect(lead, "{{.State.FinishedAt}}"))
            new = wait_until(lambda: leaders(among=others), 15, interval=0.1,
                             msg="a new leader of payments")
            assert len(new) == 1, new
            got = [t for t in log_times(new[0], r"^payments: became leader")
                   if t > t_kill]
            assert got, "no 'became leader' line after the kill"
            took = (got[0] - t_kill).total_seconds()
            print("     %s killed; %s leads %.2f s later (bound %.1f s)" % (
                lead, new[0], took, SESSION_S + TICK_S + 1))
            assert took <= SESSION_S + TICK_S + 1.0, took
            after = dep(status(new[0]))
            assert after[0] == before[0] and after[1] >= before[1], (before,
                                                                      after)
        finally:
            dc("start", lead)
        wait_all(lambda st: (dep(st) or ("", 0, ""))[2] == "authoritative", 30,
                 "authoritative again after the restart")


def test_live_stop_leader():
    """SIGTERM the leader: a new leader under 500 ms after the signal."""
    with live():
        (lead,) = wait_until(lambda: leaders() if len(leaders()) == 1 else None,
                             15, msg="one leader of payments")
        others = [s for s in BD if s != lead]
        try:
            dc("stop", "-t", "10", lead, timeout=60)
            terms = log_times(lead, r"shutting down")
            assert terms, "the old leader logged no SIGTERM"
            t_term = terms[-1]
            new = wait_until(lambda: leaders(among=others), 10, interval=0.1,
                             msg="a new leader of payments")
            got = [t for t in log_times(new[0], r"^payments: became leader")
                   if t >= t_term]
            assert got, "no 'became leader' line after the SIGTERM"
            took = (got[0] - t_term).total_seconds()
            bound = 0.5 * load_factor()
            print("     %s stopped; %s leads %.3f s after its SIGTERM "
                  "(bound %.2f s: 0.5 s x %.1f for the load)" % (
                      lead, new[0], took, bound, bound / 0.5))
            assert took < bound, (took, bound)
            code = inspect(lead, "{{.State.ExitCode}}")
            assert code == "0", "SIGTERM exit code %s" % code
        finally:
            dc("start", lead)
        wait_all(lambda st: (dep(st) or ("", 0, ""))[2] == "authoritative", 30,
                 "authoritative again after the restart")


def test_live_network_disconnect():
    """Cut the leader off: stale there, a new leader elsewhere, probers
    never overlap; after connect, every instance converges."""
    with live():
        (lead,) = wait_until(lambda: leaders() if len(leaders()) == 1 else None,
                             15, msg="one leader of payments")
        others = [s for s in BD if s != lead]
        net = "%s_breakerd" % _F["proj"]
        t0 = now_ms()
        # Keep the probes going: a failing dependency is probed by its leader.
        docker("exec", cid("flaky"), "docker-entrypoint.sh", "flaky-mode",
               "error")
        docker("network", "disconnect", net, cid(lead))
        connected = False
        try:
            wait_until(lambda: (dep(status(lead)) or ("", 0, ""))[2] == "stale",
                       20, interval=0.2, msg="the cut-off instance says stale")
            new = wait_until(lambda: leaders(among=others), 20, interval=0.2,
                             msg="the others elect a leader")
            assert len(new) == 1, new
            # An OPEN breaker is probed once per open wait (up to 8 s
            # with the backoff), and only after the handover.
            wait_until(lambda: any(s in ip_of(new[0]) for _, s in
                                   health_sources(t0)), 45,
                       msg="the new leader checks the dependency")
            docker("network", "connect", net, cid(lead))
            connected = True
            docker("exec", cid("flaky"), "docker-entrypoint.sh", "flaky-mode",
                   "ok")

            def converged(st_all=None):
                sts = {s: dep(status(s)) for s in BD}
                if any(v is None or v[2] != "authoritative" or v[0] != "CLOSED"
                       for v in sts.values()):
                    return None
                return sts if len({v[1] for v in sts.values()}) == 1 else None
            sts = wait_until(converged, 60, interval=0.3,
                             msg="every instance CLOSED, authoritative, same "
                             "version after connect")
            assert sum(v[3] for v in sts.values()) == 1, sts
            src = health_sources(t0)
            assert not overlaps(src), "two probers at once: %r" % overlaps(src)
        finally:
            if not connected:
                docker("network", "connect", net, cid(lead), check=False)
            docker("exec", cid("flaky"), "docker-entrypoint.sh", "flaky-mode",
                   "ok", check=False)


def test_live_down():
    """`down -v`: no container, network or volume of the project left."""
    if not _F["up"]:
        raise Skip("the compose fleet is not up (see test_live_up)")
    save_logs()
    proj = _F["proj"]
    dc("down", "-v", "--remove-orphans", "-t", "5", timeout=180)
    _F["down"] = True
    lab = "label=com.docker.compose.project=%s" % proj
    left = {
        "containers": docker("ps", "-a", "-q", "--filter", lab).stdout,
        "networks": docker("network", "ls", "-q", "--filter", lab).stdout,
        "volumes": docker("volume", "ls", "-q", "--filter", lab).stdout,
    }
    names = docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert not any(n.startswith(proj + "_") or n.startswith(proj + "-")
                   for n in names), names
    assert not any(v.strip() for v in left.values()), left
