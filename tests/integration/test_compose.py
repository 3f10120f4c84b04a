"""test_compose.py - docker-compose.yml, docker/Dockerfile and
docker/entrypoint.sh, checked without a Docker engine.

The compose file must parse (python3-yaml when it is importable; else
careful text checks), pin its images, reference only files that exist,
and keep its addresses consistent: every ZooKeeper server's fixed IP is in
every breakerd's ZK_HOSTS (an odd number of them), the flaky service's IP
is in FLAKY_URL.  The runtime image's packages must provide every shared
library the built binaries need.  Then the real entrypoint renders
conf/fleet.json.in into a config that `breakerd -n` accepts, and runs a
breakerd against a local ensemble that answers PING and becomes ready, and
the legacy example app talks to it over the socket.
"""

import os
import re
import subprocess
import sys

from bdlib import (BUILD, ROOT, Client, FlakyService, require, run_dir,
                   run_tool, spawn, unable, wait_until, zk_ensemble,
                   zk_root)

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
TEMPLATE = ROOT / "conf" / "fleet.json.in"
LEGACY = ROOT / "docker" / "legacy-app"
RUNTIME_PKGS = {"libzookeeper-mt2", "libevent-2.1-7",
                "libevent-pthreads-2.1-7", "libjansson4", "libsystemd0"}
ZK_SERVICES = ("zk1", "zk2", "zk3")
BD_SERVICES = ("breakerd-a", "breakerd-b", "breakerd-c")

try:
    import yaml
except ImportError:  # python3-yaml not installed: text checks only
    yaml = None


def interpolate(text, env=None):
    """Compose's ${VAR:-default} and ${VAR} interpolation ($$ is $)."""
    env = env or {}

    def sub(m):
        name, default = m.group(1), m.group(3)
        if env.get(name):
            return env[name]
        if default is not None:
            return default
        raise AssertionError("${%s} has no default" % name)
    text = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}", sub, text)
    return text.replace("$$", "$")


def compose(env=None):
    """The interpolated compose file as a dict (needs python3-yaml)."""
    if yaml is None:
        require(False, "python3-yaml (text checks still run)")
    doc = yaml.safe_load(interpolate(COMPOSE.read_text(), env))
    assert isinstance(doc, dict) and "services" in doc, "no services"
    return doc


def env_of(svc):
    """A service's environment as a dict (mapping or KEY=VALUE list)."""
    e = svc.get("environment") or {}
    if isinstance(e, list):
        e = dict(x.split("=", 1) for x in e)
    return {k: "" if v is None else str(v) for k, v in e.items()}


def ipv4(svc):
    nets = svc.get("networks") or {}
    if isinstance(nets, dict):
        for v in nets.values():
            if isinstance(v, dict) and v.get("ipv4_address"):
                return v["ipv4_address"]
    return None


def dockerfile_froms(path):
    """[(image, alias)] of a Dockerfile's FROM lines, ${ARG}s replaced by
    the defaults of its ARG lines."""
    text = path.read_text()
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.M))
    out = []
    for image, alias in re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?",
                                   text, re.M | re.I):
        m = re.fullmatch(r"\$\{?(\w+)\}?", image)
        out.append((args.get(m.group(1), image) if m else image, alias))
    return out


DOCKERFILES = (DOCKERFILE, LEGACY / "Dockerfile",
               ROOT / "docker" / "zookeeper" / "Dockerfile")


def test_compose_services_and_order():
    doc = compose()
    s = doc["services"]
    for name in ZK_SERVICES + BD_SERVICES + ("flaky", "legacy-app"):
        assert name in s, "service %s missing" % name
    for z in ZK_SERVICES:
        hc = s[z].get("healthcheck", {}).get("test")
        assert hc and ("srvr" in " ".join(hc) or "zkServer.sh" in
                       " ".join(hc)), "%s: healthcheck %r" % (z, hc)
    for b in BD_SERVICES:
        dep = s[b].get("depends_on")
        assert isinstance(dep, dict), "%s: depends_on must use conditions" % b
        for z in ZK_SERVICES + ("flaky",):
            assert dep.get(z, {}).get("condition") == "service_healthy", \
                "%s must wait for %s healthy: %r" % (b, z, dep)
        hc = " ".join(s[b]["healthcheck"]["test"])
        assert "breakerctl" in hc and hc.endswith(" ready"), hc
        assert s[b]["build"]["dockerfile"] == "docker/Dockerfile"
        assert s[b]["build"].get("target") == "runtime"
        assert env_of(s[b])["INSTANCE_ID"] == b
    ids = [env_of(s[b])["INSTANCE_ID"] for b in BD_SERVICES]
    assert len(set(ids)) == 3, ids
    # The legacy app shares breakerd-a's socket volume, at the same path.
    la, a = s["legacy-app"], s["breakerd-a"]
    assert la["depends_on"]["breakerd-a"]["condition"] == "service_healthy"
    vol_a = [v for v in a["volumes"] if v.endswith(":/run/breakerd")]
    assert vol_a and vol_a[0] in la["volumes"], (a["volumes"],
                                                 la["volumes"])
    sock = env_of(la)["BREAKERD_SOCKET"]
    assert sock == env_of(a)["SOCKET_PATH"], sock
    # Each breakerd has its own socket volume.
    vols = [v.split(":")[0] for b in BD_SERVICES for v in s[b]["volumes"]]
    assert len(set(vols)) == 3 and set(vols) <= set(doc["volumes"]), vols


def test_compose_addresses_consistent():
    """ZooKeeper IPs in ZK_HOSTS and ZOO_SERVERS, with the default subnet
    and with BREAKERD_NET overridden."""
    for env in ({}, {"BREAKERD_NET": "10.213.7"}):
        doc = compose(env)
        s = doc["services"]
        subnet = doc["networks"]["breakerd"]["ipam"]["config"][0]["subnet"]
        prefix = subnet.rsplit(".", 1)[0] + "."
        assert subnet.endswith(".0/24"), subnet
        if env:
            assert subnet == "10.213.7.0/24", subnet
        zk_ips = {z: ipv4(s[z]) for z in ZK_SERVICES}
        assert all(ip and ip.startswith(prefix) for ip in zk_ips.values()), \
            zk_ips
        assert len(set(zk_ips.values())) == 3, zk_ips
        ids = set()
        for z in ZK_SERVICES:
            e = env_of(s[z])
            ids.add(e["ZOO_MY_ID"])
            servers = e["ZOO_SERVERS"].split()
            assert len(servers) == 3, servers
            for line in servers:
                m = re.match(r"server\.(\d)=([\d.]+):2888:3888;2181$", line)
                assert m, line
                assert zk_ips["zk%s" % m.group(1)] == m.group(2), line
            assert e["ZOO_4LW_COMMANDS_WHITELIST"]
            tick = int(e["ZOO_TICK_TIME"])
        assert ids == {"1", "2", "3"}, ids
        want = {"%s:2181" % ip for ip in zk_ips.values()}
        flaky_ip = ipv4(s["flaky"])
        assert flaky_ip and flaky_ip.startswith(prefix)
        all_ips = list(zk_ips.values()) + [flaky_ip]
        assert len(set(all_ips)) == len(all_ips), all_ips
        for b in BD_SERVICES:
            e = env_of(s[b])
            hosts = e["ZK_HOSTS"].split(",")
            assert len(hosts) % 2 == 1, "even ZooKeeper host list %r" % hosts
            assert set(hosts) == want, (b, hosts, want)
            assert e["FLAKY_URL"] == "http://%s:8080" % flaky_ip, e
            sess = int(e["ZK_SESSION_MS"])
            assert 2 * tick <= sess <= 20 * tick, (sess, tick)
        assert flaky_ip in env_of(s["legacy-app"])["TARGET_URL"]


def test_images_pinned():
    """No :latest and no untagged image, in compose and in Dockerfiles."""
    text = COMPOSE.read_text()
    images = re.findall(r"^\s*image:\s*(\S+)", text, re.M)
    assert images, "no image: lines"
    for img in images:
        assert ":" in img and not img.endswith(":latest"), \
            "image not pinned: %s" % img
    zk = [i for i in images if "zookeeper:" in i]
    assert zk and all(re.search(r"zookeeper:\d+\.\d+\.\d+$", i)
                      for i in zk), zk
    for df in DOCKERFILES:
        stages = {alias for _, alias in dockerfile_froms(df) if alias}
        for image, _ in dockerfile_froms(df):
            if image in stages:
                continue
            assert ":" in image and not image.endswith(":latest"), \
                "%s: FROM %s is not pinned" % (df, image)


def test_dockerfiles_need_no_registry_nor_buildkit():
    """No `# syntax=` line (BuildKit would pull a frontend), no
    BuildKit-only flags (docker-compose v1 uses the legacy builder), and
    every base a build argument defaulting to debian:bookworm(-slim),
    which scripts/docker-images.sh makes without a registry."""
    for df in DOCKERFILES:
        text = df.read_text()
        assert not re.search(r"^#\s*syntax\s*=", text, re.M | re.I), df
        code = "\n".join(ln for ln in text.splitlines()
                         if not ln.lstrip().startswith("#"))
        assert "--chmod" not in code and "--mount" not in code, df
        for image, _ in dockerfile_froms(df):
            assert image in ("debian:bookworm", "debian:bookworm-slim") or \
                image in {a for _, a in dockerfile_froms(df) if a}, \
                "%s: FROM %s" % (df, image)
    assert (ROOT / ".dockerignore").exists(), "the legacy builder reads " \
        "only the context's .dockerignore"


def test_referenced_files_exist():
    """Build contexts, Dockerfiles, COPY sources, entrypoint, template."""
    text = COMPOSE.read_text()
    for f in (DOCKERFILE, ENTRYPOINT, TEMPLATE, LEGACY / "app.py",
              LEGACY / "Dockerfile", ROOT / "scripts" / "fleet.sh",
              ROOT / "scripts" / "drill.sh"):
        assert f.exists(), "%s missing" % f
    assert os.access(ENTRYPOINT, os.X_OK), "entrypoint not executable"
    contexts = {}
    if yaml is not None:
        for name, svc in compose()["services"].items():
            b = svc.get("build")
            if b:
                ctx = ROOT / b.get("context", ".")
                contexts[name] = (ctx, ctx / b.get("dockerfile",
                                                   "Dockerfile"))
    else:
        for ctx in re.findall(r"^\s*context:\s*(\S+)", text, re.M):
            contexts[ctx] = (ROOT / ctx, None)
        for df in re.findall(r"^\s*dockerfile:\s*(\S+)", text, re.M):
            assert (ROOT / df).exists(), df
    assert contexts, "no build contexts found"
    for name, (ctx, df) in contexts.items():
        assert ctx.is_dir(), "%s: context %s" % (name, ctx)
        if df is None:
            continue
        assert df.exists(), "%s: %s" % (name, df)
        for line in df.read_text().splitlines():
            m = re.match(r"^(COPY|ADD)\s+(.*)$", line.strip(), re.I)
            if not m or "--from=" in line:
                continue
            words = [w for w in m.group(2).split() if not w.startswith("--")]
            for src in words[:-1]:
                assert (ctx / src).exists(), \
                    "%s: %s copies %s, not in context %s" % (name, df, src,
                                                             ctx)


def test_dockerfile_stages_and_runtime_libraries():
    """build on bookworm, runtime on bookworm-slim with only the four
    runtime packages, and those cover every library the binaries link."""
    froms = dict((alias, image) for image, alias in
                 dockerfile_froms(DOCKERFILE))
    assert froms.get("build") == "debian:bookworm", froms
    assert froms.get("base") == "debian:bookworm-slim", froms
    assert {"runtime", "flaky"} <= set(froms), froms
    last = dockerfile_froms(DOCKERFILE)[-1][1]
    assert last == "runtime", "the default (last) stage must be runtime"
    text = DOCKERFILE.read_text()
    base = text.split("AS base", 1)[1].split("\nFROM ", 1)[0]
    m = re.search(r"RUN[^\n]*\n?\s*apt-install\s+([^;]*);", base)
    assert m, "no apt-install in the base stage"
    pkgs = set(m.group(1).replace("\\", " ").split())
    assert pkgs == RUNTIME_PKGS, pkgs
    assert "make" in text.split("AS build", 1)[1].split("\nFROM ", 1)[0]
    assert 'ENTRYPOINT ["docker-entrypoint.sh"]' in text
    assert re.search(r"^USER breakerd", text, re.M), "runs as root"
    # Every shared library of the built binaries comes from libc6 or one
    # of the runtime packages (or a package they depend on).
    if run_tool(["which", "dpkg"]).returncode != 0:
        unable("list package contents (no dpkg: not Debian)")
    allowed = RUNTIME_PKGS | {"libc6", "libevent-core-2.1-7"}
    # apt-get installs what a runtime package depends on with it (and so
    # on down): the closure of their Depends.
    todo = list(RUNTIME_PKGS)
    while todo:
        deps = run_tool(["dpkg-query", "-W", "-f=${Depends}",
                         todo.pop()]).stdout
        for alt in deps.split(","):
            for d in alt.split("|"):
                name = d.split()[0].split(":")[0] if d.strip() else ""
                if name and name not in allowed:
                    allowed.add(name)
                    todo.append(name)
    # The plain build, as the image makes it (a sanitizer build would add
    # libasan, which the image never has).
    for exe in (ROOT / "build" / "breakerd", ROOT / "build" / "breakerctl"):
        if not exe.exists():
            raise AssertionError("%s not built (make)" % exe)
        libs = re.findall(r"=>\s*(/\S+)", run_tool(["ldd", exe]).stdout)
        assert libs, "ldd %s" % exe
        for lib in libs:
            r = run_tool(["dpkg", "-S", os.path.realpath(lib)])
            if r.returncode != 0:
                r = run_tool(["dpkg", "-S", lib])
            pkg = r.stdout.split(":", 1)[0]
            assert pkg in allowed, "%s needs %s from %s, not in the " \
                "runtime stage" % (exe.name, lib, pkg or "?")


def render(env, check=True):
    """Run the real entrypoint's renderer; CompletedProcess."""
    full = dict(os.environ)
    for k in ("INSTANCE_ID", "ZK_HOSTS", "FLAKY_URL", "SOCKET_PATH"):
        full.pop(k, None)
    full.update(env)
    return subprocess.run(["sh", str(ENTRYPOINT), "render"], env=full,
                          capture_output=True, text=True, timeout=20)


def compose_env(service="breakerd-a"):
    """The environment compose gives a breakerd service."""
    if yaml is not None:
        return env_of(compose()["services"][service])
    return {"INSTANCE_ID": service, "ZK_SESSION_MS": "3000",
            "ZK_HOSTS": "172.28.0.11:2181,172.28.0.12:2181,172.28.0.13:2181",
            "FLAKY_URL": "http://172.28.0.20:8080", "ADMIN_UIDS": "0, 10001",
            "SOCKET_MODE": "0660", "ZK_ROOT": "/breakerd/compose",
            "ZK_CREDENTIAL_FILE": "/run/secrets/zk_credential"}


def test_entrypoint_renders_a_valid_config():
    env = compose_env()
    env["SOCKET_PATH"] = str(run_dir() / "a.sock")
    r = render(env)
    assert r.returncode == 0, r.stderr
    cfg = run_dir() / "rendered.json"
    cfg.write_text(r.stdout)
    assert "@" not in "".join(ln for ln in r.stdout.splitlines()
                              if not ln.lstrip().startswith("#"))
    assert '"hosts": "%s"' % env["ZK_HOSTS"] in r.stdout
    chk = run_tool([BUILD / "breakerd", "-n", "-f", cfg])
    assert chk.returncode == 0, "breakerd -n rejected the rendered " \
        "config:\n%s%s" % (chk.stdout, chk.stderr)
    # Bad or missing values are refused (status 78), never rendered.
    for bad in ({"ZK_HOSTS": 'x",'}, {"FLAKY_URL": ""},
                {"ZK_SESSION_MS": "3s"}, {"SOCKET_PATH": "rel.sock"},
                {"ADMIN_UIDS": "0]"}, {"ZK_CREDENTIAL_FILE": ""},
                {"ZK_CREDENTIAL_FILE": "secrets/x"}):
        r = render(dict(env, **bad))
        assert r.returncode == 78 and r.stdout == "", (bad, r.returncode,
                                                       r.stdout)
        assert "entrypoint:" in r.stderr, r.stderr


def test_entrypoint_runs_breakerd_against_local_ensemble():
    """The container's command path (`entrypoint.sh breakerd`) against a
    real 3-node ensemble: it renders, checks, execs breakerd, which
    answers PING and becomes ready; then the legacy app uses it."""
    ens = zk_ensemble()
    flaky = FlakyService(name="flaky")
    flaky.start()
    d = run_dir()
    sock = d / "entry.sock"
    cred = d / "zk-credential"
    cred.write_text("breakerd:entry-%d\n" % os.getpid())
    env = {"INSTANCE_ID": "entry-a", "ZK_HOSTS": ens.hosts,
           "ZK_CREDENTIAL_FILE": str(cred),
           "ZK_ROOT": zk_root(), "ZK_SESSION_MS": "3000",
           "FLAKY_URL": "http://127.0.0.1:%d" % flaky.port,
           "SOCKET_PATH": str(sock), "ADMIN_UIDS": "0, %d" % os.getuid(),
           "BREAKERD_CONFIG": str(d / "entry.json"),
           "BREAKERD": str(BUILD / "breakerd")}
    proc = spawn(["sh", ENTRYPOINT, "breakerd"], name="entrypoint", env=env)

    def ping():
        if not proc.alive():
            raise AssertionError("entrypoint exited %s:\n%s" % (
                proc.returncode(), proc.log_text()))
        try:
            with Client(sock, timeout=1) as c:
                return c.cmd("PING", timeout=1) == "OK PONG"
        except (OSError, AssertionError):
            return False
    wait_until(ping, 20, 0.1, "entrypoint's breakerd did not answer PING")
    # exec: the process compose signals is breakerd itself.
    cmdline = open("/proc/%d/cmdline" % proc.pid, "rb").read().split(b"\0")
    assert os.path.basename(cmdline[0].decode()) == "breakerd", cmdline
    assert (d / "entry.json").exists()

    def ready():
        with Client(sock, timeout=2) as c:
            lines = c.cmd_multi("STATUS")
        return "ready=1" in lines and "instance_id=entry-a" in lines and \
            "zk_auth=1" in lines
    wait_until(ready, 30, 0.2, "entrypoint's breakerd never ready=1")
    # The legacy example app, against this daemon, through the socket.
    app_env = dict(os.environ, BREAKERD_SOCKET=str(sock),
                   DEPENDENCY="payments", CALLS="3", INTERVAL_S="0.05",
                   TARGET_URL=flaky.url("/payments/charge"))
    r = subprocess.run([sys.executable, str(LEGACY / "app.py")],
                       env=app_env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    allowed = [ln for ln in r.stdout.splitlines() if "allowed ok 200" in ln]
    assert len(allowed) == 3, r.stdout
    st = flaky.stats()
    assert st["by_path"].get("/payments/charge") == 3, st["by_path"]
    proc.signal(15)
    assert proc.wait(10) is not None, "breakerd ignored SIGTERM"
