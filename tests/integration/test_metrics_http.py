"""test_metrics_http.py - the optional Prometheus listener (metrics_port,
metrics_address) serves the same text as METRICS on the socket."""

import urllib.error
import urllib.request

from bdlib import Daemon, free_port, on_free_ports


def _get(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, None, ""


def test_metrics_over_http():
    def start():
        port = free_port()
        d = Daemon("inst-a", deps=["payments"],
                   overrides={"metrics_port": port}).start()
        return port, d
    # The port is free when chosen; the daemon binds it later (and exits
    # if something took it meanwhile): retried on a fresh port.
    port, d = on_free_ports(start)
    for _ in range(3):
        assert d.cmd("REPORT payments fail 5") == "OK"
    code, ctype, body = _get("http://127.0.0.1:%d/metrics" % port)
    assert code == 200, code
    assert ctype.startswith("text/plain; version=0.0.4"), ctype
    assert 'breakerd_calls_total{dep="payments",outcome="fail"} 3' in body
    assert "# TYPE breakerd_state gauge" in body
    # Only /metrics, only GET.
    assert _get("http://127.0.0.1:%d/other" % port)[0] == 404
    assert _get("http://127.0.0.1:%d/metrics" % port, "POST")[0] in (405, 501)


def test_no_listener_by_default():
    d = Daemon("inst-b", deps=["payments"]).start()
    assert "metrics: http" not in d.log_text()
