"""test_prometheus.py - breakerd's metrics, alert rules and dashboard,
checked by Prometheus's own tool (promtool, Debian package `prometheus`).

- METRICS from a standalone daemon and from fleet daemons (leader and
  follower, after a transition, so every family has series) passes
  `promtool check metrics` (format and naming lint);
- conf/prometheus/breakerd-alerts.yml passes `promtool check rules` and its
  unit tests (`promtool test rules`);
- every query of conf/grafana/breakerd-dashboard.json and every alert
  expression names only metrics a live daemon exports (names taken from
  the daemon's own METRICS TYPE lines, not from a list in this file).
"""

import json
import re
import shutil
import subprocess

import bdlib
from bdlib import Daemon, Skip, wait_until

SHARED_ENSEMBLE = True
ROOT = bdlib.ROOT
RULES = ROOT / "conf" / "prometheus" / "breakerd-alerts.yml"
RULE_TESTS = ROOT / "conf" / "prometheus" / "breakerd-alerts.test.yml"
DASHBOARD = ROOT / "conf" / "grafana" / "breakerd-dashboard.json"
METRIC_RE = re.compile(r"\bbreakerd_[a-zA-Z0-9_]+")


def _promtool():
    path = shutil.which("promtool")
    if path is None:
        raise Skip("promtool not installed (Debian package prometheus; "
                   "scripts/install-deps.sh installs it)")
    return path


def _metrics(d):
    with d.client() as c:
        lines = c.cmd_multi("METRICS")
    assert lines[0] == "OK" and lines[-1] == "END", lines[:2]
    return "\n".join(lines[1:-1]) + "\n"


def _check_metrics(text):
    r = subprocess.run([_promtool(), "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, "promtool check metrics:\n%s%s" % (
        r.stdout, r.stderr)


def _fleet(ens):
    a = Daemon("inst-a", deps=["payments"], zk=ens).start()
    b = Daemon("inst-b", deps=["payments"], zk=ens).start()
    wait_until(lambda: a.status().get("ready") == "1"
               and b.status().get("ready") == "1", 20, msg="fleet ready")
    assert a.cmd("FORCE payments open 60 promtool").startswith("OK")
    for d in (a, b):
        wait_until(lambda d=d: d.state("payments")["state"] == "FORCED_OPEN", 20,
                   msg="%s applied the override" % d.name)
    return a, b


def _exported(texts):
    """Metric names the daemons export: every TYPE line's family, plus the
    _bucket/_sum/_count series of histograms and summaries."""
    names = set()
    for text in texts:
        for m in re.finditer(r"^# TYPE (\S+) (\S+)$", text, re.M):
            names.add(m.group(1))
            if m.group(2) in ("histogram", "summary"):
                names.update(m.group(1) + s
                             for s in ("_bucket", "_sum", "_count"))
    return names


def test_metrics_pass_promtool_standalone():
    d = Daemon("inst-a", deps=["payments", "ledger"]).start()
    for _ in range(3):
        assert d.cmd("REPORT payments fail 5") == "OK"
    assert d.cmd("ALLOW payments").startswith("OK")
    text = _metrics(d)
    assert "# TYPE breakerd_state gauge" in text
    _check_metrics(text)
    # The check can fail: a counter without _total is linted.
    bad = text + "# HELP breakerd_x y\n# TYPE breakerd_x counter\n" \
        "breakerd_x 1\n"
    r = subprocess.run([_promtool(), "check", "metrics"], input=bad,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0, r.stdout + r.stderr


def test_metrics_pass_promtool_fleet(ens):
    a, b = _fleet(ens)
    for d in (a, b):
        text = _metrics(d)
        assert 'breakerd_zk_session{state="connected"} 1' in text, text
        _check_metrics(text)


def test_alert_rules():
    tool = _promtool()
    r = subprocess.run([tool, "check", "rules", str(RULES)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 4 rules found" in r.stdout, r.stdout
    r = subprocess.run([tool, "test", "rules", str(RULE_TESTS)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def _dashboard_exprs():
    exprs = []

    def walk(o):
        if isinstance(o, dict):
            if o.get("type") == "datasource":
                return  # a data source picker, not a query
            for k, v in o.items():
                if k == "expr" and isinstance(v, str):
                    exprs.append(v)
                elif k in ("query", "definition") and isinstance(v, str):
                    exprs.append(v)
                else:
                    walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(json.loads(DASHBOARD.read_text()))
    return exprs


def _rule_exprs():
    return re.findall(r"^\s+expr:\s*(?:>-\s*\n)?((?:.*\n)*?)(?=\s+for:)",
                      RULES.read_text(), re.M)


def test_dashboard_and_rules_name_exported_metrics(ens):
    a, b = _fleet(ens)
    exported = _exported([_metrics(a), _metrics(b)])
    assert "breakerd_state" in exported and len(exported) > 10, exported
    exprs = _dashboard_exprs()
    assert len(exprs) >= 10, exprs
    rules = _rule_exprs()
    assert len(rules) == 4, rules
    unknown = []
    for e in exprs + rules:
        names = METRIC_RE.findall(e)
        assert names, "query names no breakerd metric: %r" % e
        unknown += [(n, e) for n in names if n not in exported]
    assert not unknown, "not exported by breakerd: %r" % unknown
