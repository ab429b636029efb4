"""The playground's server through Flask's test client: the page, the JSON API, bad requests
answered with a clear message while the server keeps working, and the command's options."""

from __future__ import annotations

import json
import re
import select
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest

pytest.importorskip("flask")

from chainrule.cli import _parser  # noqa: E402
from chainrule.viz.playground import create_app  # noqa: E402


@pytest.fixture
def client():
    return create_app().test_client()


def test_the_page_is_self_contained(client):
    r = client.get("/")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert "<title>chainrule playground</title>" in page
    assert "<script src" not in page and "<link" not in page and "https://" not in page
    for control in ('id="run"', 'id="step-btn"', 'id="hidden"', 'id="boundary"', 'id="loss"',
                    'id="error"', 'value="sinx2"'):
        assert control in page


def test_config_step_backward(client):
    r = client.post("/api/config", json={"dataset": "xor", "hidden": "3", "points": 100,
                                         "features": ["x1", "x2", "x1x2"], "seed": 2})
    s = r.get_json()
    assert r.status_code == 200 and s["step"] == 0 and len(s["points"]) == 100
    assert s["layers"] == [["x1", "x2", "x1·x2"], ["h1.1", "h1.2", "h1.3"], ["output"]]
    assert np.array(s["weights"][0]["W"]).shape == (3, 3) and len(s["boundary"]) == 64 * 64
    assert client.get("/api/backward").status_code == 409  # no step yet
    r = client.post("/api/step", json={"n": 40})
    after = r.get_json()
    assert after["step"] == 40 and after["trainLoss"] < s["trainLoss"]
    assert "points" not in after
    b = client.get("/api/backward").get_json()
    assert b["step"] == 40 and len(b["batch"]) == 10
    assert np.array(b["grads"][0]["W"]).shape == (3, 3) and len(b["grads"][1]["b"]) == 1
    assert "Backward pass" in b["explanation"] and "∂L/∂W1" in b["explanation"]
    page = client.get("/explore")
    assert page.status_code == 200 and "Playground step 40" in page.get_data(as_text=True)
    full = client.get("/api/state?full=1").get_json()
    assert full["step"] == 40 and full["config"]["dataset"] == "xor"


@pytest.mark.parametrize("body, message", [
    ({"hidden": "10000"}, "hidden layer 1: 10000 units is too many; give 1 to 16 units per layer"),
    ({"lr": "abc"}, "lr: 'abc' is not a number"),
    ({"dataset": "moons"}, "dataset: 'moons' is not one of circle, xor, gauss, spiral"),
])
def test_bad_settings_get_a_message_and_the_session_stays(client, body, message):
    client.post("/api/config", json={"dataset": "gauss", "seed": 5})
    client.post("/api/step", json={"n": 3})
    r = client.post("/api/config", json=body)
    assert r.status_code == 400 and message in r.get_json()["error"]
    s = client.post("/api/step", json={"n": 1}).get_json()  # still serving the last good one
    assert s["step"] == 4


@pytest.mark.parametrize("body", [{"n": 0}, {"n": 201}, {"n": "5"}, {"n": True}, [1]])
def test_bad_step_counts(client, body):
    r = client.post("/api/step", json=body)
    assert r.status_code == 400
    assert "n: the number of steps must be a whole number from 1 to 200" in r.get_json()["error"]


def test_not_json_and_unknown_pages(client):
    r = client.post("/api/config", data="hidden=4", content_type="text/plain")
    assert r.status_code == 400 and "JSON object" in r.get_json()["error"]
    r = client.get("/api/nothing")
    assert r.status_code == 404 and "Not Found" in r.get_json()["error"]
    assert client.get("/favicon.ico").status_code == 204


def test_command_options():
    args = _parser().parse_args(["playground", "--port", "0"])
    assert args.command == "playground" and args.port == 0 and not args.open
    assert _parser().parse_args(["playground"]).port == 8000
    out = subprocess.run([sys.executable, "-m", "chainrule", "playground", "--port", "-1"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--port: must be an integer >= 0, got -1" in out.stderr
    out = subprocess.run([sys.executable, "-m", "chainrule", "playground", "--port", "99999"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "must be a port from 0 to 65535, got 99999" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_command_prints_its_url_and_serves_the_page():
    proc = subprocess.Popen([sys.executable, "-u", "-m", "chainrule", "playground", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else ""
        url = re.match(r"chainrule playground: (http://127\.0\.0\.1:(\d+)/)  \(Ctrl-C stops it\)",
                       line)
        assert url and int(url.group(2)) > 0, line
        with urllib.request.urlopen(url.group(1), timeout=30) as r:
            assert "<title>chainrule playground</title>" in r.read().decode()
        request = urllib.request.Request(url.group(1) + "api/config", data=b'{"hidden": "99"}',
                                         headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=30)
        assert err.value.code == 400
        assert "99 units is too many" in json.loads(err.value.read())["error"]
        with urllib.request.urlopen(url.group(1) + "api/state", timeout=30) as r:
            assert json.loads(r.read())["step"] == 0  # still serving
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_a_port_in_use_is_named():
    from chainrule.viz.playground import make_server
    first = make_server(0)
    try:
        out = subprocess.run([sys.executable, "-m", "chainrule", "playground", "--port",
                              str(first.port)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 1
        assert (f"chainrule playground: error: cannot listen on 127.0.0.1:{first.port}: "
                f"Address already in use; choose another --port (0: a free one)") in out.stderr
    finally:
        first.server_close()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow on the way to diverging
def test_a_diverging_run_gets_a_message_and_the_server_keeps_its_steps(client):
    diverges = {"dataset": "xor", "hidden": "16 16 16 16 16 16", "activation": "linear",
                "lr": 10, "batch_size": 1, "features": ["x1", "x2", "x1sq", "x2sq", "x1x2"]}
    r = client.post("/api/config", json=diverges)
    assert r.status_code == 200
    for _ in range(40):
        r = client.post("/api/step", json={"n": 5})
        if r.status_code != 200:
            break
    assert r.status_code == 409 and "training diverged at step" in r.get_json()["error"]
    r = client.get("/api/state?full=1")
    json.loads(r.get_data(as_text=True), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert r.get_json()["step"] > 0
