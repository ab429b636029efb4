"""explore's page and the playground in a real browser: headless Chromium driven by Selenium.

Skipped only where Chromium or its driver is not installed (Debian: apt-get install chromium
chromium-driver). The explore page of CS231n's sigmoid neuron is stepped through with the keys
and the numbers read off the page at each step; the playground is started with the
``chainrule playground`` command on a free port, trained through the page, and given a bad
setting."""

from __future__ import annotations

import math
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

webdriver = pytest.importorskip("selenium.webdriver")
pytest.importorskip("flask")

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.examples import sigmoid_graph  # noqa: E402

BROWSER = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome",
                                               "google-chrome-stable"))), None)
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(BROWSER is None or DRIVER is None,
                                reason="Chromium and chromedriver are not installed "
                                       "(apt-get install chromium chromium-driver)")

# CS231n's neuron, from the maths
D = 2 * -1 + -3 * -2 + -3
Z = 1 + math.exp(-D)
F = 1 / Z                      # 0.73
DZ = -1 / Z ** 2               # -0.53
DE = DZ * math.exp(-D)         # -0.20
LOCAL = F * (1 - F)
INPUT_GRADS = {"w0": -1 * LOCAL, "x0": 2 * LOCAL, "w1": -2 * LOCAL, "x1": -3 * LOCAL, "w2": LOCAL}


@pytest.fixture(scope="module")
def driver():
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1400,900"):
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chainrule-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    d = webdriver.Chrome(service=Service(DRIVER), options=options)
    d.set_page_load_timeout(60)
    yield d
    d.quit()
    shutil.rmtree(profile, ignore_errors=True)


def wait(d, condition, timeout=60):
    return WebDriverWait(d, timeout, poll_frequency=0.05).until(lambda _: condition())


def last_number(text: str) -> float:
    return float(re.findall(r"-?\d+(?:\.\d+)?", text)[-1])


def boxes(d) -> dict:
    """Each box's first line (its title) -> its gradient line as shown."""
    return d.execute_script("""
        const out = {};
        document.querySelectorAll('.box').forEach((g) => {
          const t = g.querySelectorAll('text');
          const grad = g.querySelector('text.grad');
          out[t[0].textContent] = grad ? grad.textContent : null;
        });
        return out;""")


def test_explore_steps_through_the_sigmoid_neuron(driver, tmp_path):
    f, names = sigmoid_graph.gates(sigmoid_graph.inputs())
    path = cr.viz.explore(f, tmp_path / "neuron.html", names=names)
    explained = cr.viz.explain(f, names=names, format="steps")  # backward order
    title = {s.name: f"{s.name} = {s.formula}" for s in explained}  # what a box is called
    driver.get(Path(path).as_uri())
    body = driver.find_element(By.TAG_NAME, "body")
    text = lambda: driver.find_element(By.ID, "step-text").text  # noqa: E731
    phase = lambda: driver.find_element(By.ID, "phase").text  # noqa: E731
    lit = lambda: driver.execute_script(  # noqa: E731
        "const b = document.querySelector('.box.lit');"
        "return b && b.querySelector('text').textContent")
    assert phase() == "Start" and lit() is None
    shown = boxes(driver)
    assert shown[title["z"]] == "∂f/∂z = ?" and shown["w0"] == "∂f/∂w0 = ?"  # not reached yet

    seen = []
    for k in range(16):
        body.send_keys(Keys.ARROW_RIGHT if k % 2 else "n")
        seen.append((phase(), text(), lit(), boxes(driver),
                     len(driver.find_elements(By.CSS_SELECTOR, ".edge.fwd, .edge.bwd"))))
    # forward: a node at a time, lit with the edges of its inputs, its line as explain's
    assert seen[0][0] == "Forward pass: operation 1 of 8"
    assert seen[0][1] == explained[-1].forward_text and last_number(seen[0][1]) == -2
    assert seen[0][2] == title["a"] and seen[0][4] == 2
    assert seen[7][1] == explained[0].forward_text and seen[7][2] == title["f"]
    assert round(last_number(seen[7][1]), 2) == 0.73 == round(F, 2)
    # backward: f first, ∂f/∂z along the edge z -> f
    assert seen[8][0] == "Backward pass: step 1 of 8" and seen[8][2] == title["f"]
    assert seen[8][1] == explained[0].text and "∂f/∂z" in seen[8][1] and seen[8][4] == 1
    assert round(last_number(seen[8][1]), 2) == -0.53 == round(DZ, 2)
    assert abs(last_number(seen[8][3][title["z"]]) - DZ) < 1e-4  # the gradient now shows on z
    assert seen[8][3][title["e"]] == "∂f/∂e = ?"
    assert seen[10][2] == title["h"] and "∂f/∂e" in seen[10][1]
    assert round(last_number(seen[10][1]), 2) == -0.20 == round(DE, 2)
    assert abs(last_number(seen[10][3][title["e"]]) - DE) < 1e-4
    assert [s[1] for s in seen[8:]] == [s.text for s in explained]
    # the input gradients, at the steps that reach them, and all shown at the end
    assert seen[12][2] == title["d"] and "∂f/∂w2" in seen[12][1]
    assert seen[15][2] == title["a"] and seen[15][4] == 2
    lines = dict(re.findall(r"(∂f/∂\w+) = .* = (-?[\d.]+)$",
                            seen[14][1] + "\n" + seen[15][1], re.M))
    rounded = {k: round(float(v), 2) for k, v in lines.items()}
    assert rounded["∂f/∂w1"] == -0.39 and rounded["∂f/∂x1"] == -0.59
    assert rounded["∂f/∂w0"] == -0.20 and rounded["∂f/∂x0"] == 0.39
    for name, g in INPUT_GRADS.items():
        assert abs(last_number(seen[15][3][name]) - g) < 1e-4, name
    assert driver.find_element(By.ID, "next").get_attribute("disabled") is not None

    body.send_keys(Keys.ARROW_LEFT)  # back one step, then "p" once more
    body.send_keys("p")
    assert driver.find_element(By.ID, "count").text == "step 14 of 16" and lit() == title["c"]
    assert boxes(driver)["w0"] == "∂f/∂w0 = ?"

    driver.execute_script("""[...document.querySelectorAll('.box')].find(
        (g) => g.querySelector('text').textContent === arguments[0])
        .dispatchEvent(new Event('click'))""", title["h"])
    details = driver.find_element(By.ID, "details").text
    assert "operation exp, shape ()" in details and "local derivative" in details
    assert re.search(r"∂h/∂e = .*0\.3679", details)  # e^-1
    assert "gradient ∂f/∂h" in details and f"{DZ:.4f}" in details


@pytest.fixture(scope="module")
def playground():
    """``chainrule playground --port 0`` in a subprocess: its URL."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "playground", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else ""
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, f"no URL printed: {line!r} {proc.poll()}"
        yield found.group(0)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def state(d) -> dict:
    return d.execute_script("""
        const l = document.getElementById('losses');
        return {step: +document.getElementById('counter').dataset.step, train: +l.dataset.train,
                test: +l.dataset.test, image: document.getElementById('boundary').toDataURL(),
                error: getComputedStyle(document.getElementById('error')).display !== 'none'
                       ? document.getElementById('error').textContent : null};""")


def test_playground_trains_through_the_page(driver, playground):
    driver.get(playground)
    wait(driver, lambda: driver.execute_script(
        "return document.getElementById('losses').dataset.train !== undefined"))
    first = state(driver)
    assert first["step"] == 0 and first["error"] is None and 0.3 < first["train"] < 2

    driver.find_element(By.ID, "step-btn").click()  # one step, then its backward pass
    wait(driver, lambda: driver.find_element(By.ID, "bw-body").is_displayed())
    assert state(driver)["step"] == 1
    assert driver.find_element(By.ID, "bw-title").text.startswith(
        "BACKWARD PASS OF STEP 1: ITS BATCH OF 10 POINTS")
    assert driver.find_element(By.ID, "bw-text").text.startswith("L = ")
    # each weight's gradient written on its line: 2·4 + 4·2 + 2·1 lines, the server's numbers
    labels = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#lines text.grad-label")]
    grads = driver.execute_async_script(
        "fetch('/api/backward').then((r) => r.json()).then(arguments[arguments.length - 1])")
    flat = [g for layer in grads["grads"] for row in layer["W"] for g in row]
    assert len(labels) == 18 == len(flat)
    assert all(abs(float(t) - g) <= 5e-4 + 0.01 * abs(g) for t, g in zip(labels, flat))
    driver.find_element(By.ID, "bw-next").click()
    assert driver.find_element(By.ID, "bw-count").text == \
        f"step 2 of {len(grads['steps'])} of the chain rule"

    driver.find_element(By.ID, "run").click()  # start, train, pause
    wait(driver, lambda: state(driver)["step"] >= 150)
    driver.find_element(By.ID, "run").click()
    wait(driver, lambda: driver.find_element(By.ID, "bw-body").is_displayed())
    after = state(driver)
    assert after["error"] is None
    assert after["train"] < 0.9 * first["train"] and after["test"] < 0.9 * first["test"]
    assert after["image"] != first["image"]  # the decision boundary moved
    assert driver.find_element(By.ID, "run").text == "▶ start"


def test_playground_bad_setting_message(driver, playground):
    driver.get(playground)
    wait(driver, lambda: driver.execute_script(
        "return document.getElementById('losses').dataset.train !== undefined"))
    hidden = driver.find_element(By.ID, "hidden")
    hidden.send_keys(Keys.CONTROL, "a")
    hidden.send_keys("4, 10000")
    driver.find_element(By.ID, "apply").click()
    wait(driver, lambda: driver.find_element(By.ID, "error").is_displayed())
    assert "hidden layer 2: 10000 units is too many; give 1 to 16 units per layer" in \
        driver.find_element(By.ID, "error").text
    hidden.send_keys(Keys.CONTROL, "a")
    hidden.send_keys("3")
    driver.find_element(By.ID, "apply").click()  # the server still answers
    wait(driver, lambda: not driver.find_element(By.ID, "error").is_displayed())
    title = driver.find_element(By.ID, "net-title").text.upper()
    assert title == "THE NETWORK: 2 → 3 → 1, TANH"
    driver.find_element(By.ID, "step-btn").click()
    wait(driver, lambda: state(driver)["step"] == 1)


# -- found by using the pages as a learner (review R2) ----------------------------------------

def test_explore_backward_arrows_point_at_the_inputs(driver, tmp_path):
    """A backward step lights the edges its gradient flows along with the arrowhead at the
    input's end (marker-start), not pointing forward into the node."""
    x = cr.tensor(3.0, requires_grad=True)
    y = x * 2
    f = y * y
    driver.get(Path(cr.viz.explore(f, tmp_path / "yy.html", names={"x": x, "y": y})).as_uri())
    body = driver.find_element(By.TAG_NAME, "body")
    for _ in range(3):  # forward y, f; backward f -> y along both uses
        body.send_keys(Keys.ARROW_RIGHT)
    marks = driver.execute_script("""return [...document.querySelectorAll('.edge.bwd')].map(
        (p) => [p.getAttribute('marker-start'), p.getAttribute('marker-end')]);""")
    assert marks == [["url(#arrow-bwd)", None]] * 2  # y · y: two uses, two edges
    body.send_keys(Keys.ARROW_LEFT)  # forward again: arrowheads at the node's end
    marks = driver.execute_script("""return [...document.querySelectorAll('.edge.fwd')].map(
        (p) => [p.getAttribute('marker-start'), p.getAttribute('marker-end')]);""")
    assert marks == [[None, "url(#arrow-fwd)"]] * 2


def test_explore_of_a_leaf_says_so(driver, tmp_path):
    z = cr.tensor(0.5, requires_grad=True)
    driver.get(Path(cr.viz.explore(z, tmp_path / "leaf.html", names={"z": z})).as_uri())
    start = driver.find_element(By.ID, "step-text").text
    assert start.startswith("z is a leaf: no operation made it") and "0 operations" not in start
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
    assert driver.find_element(By.ID, "phase").text == "A leaf: nothing to step through"


def test_playground_deep_network_and_divergence(driver, playground):
    """Six hidden layers of 16 fit their column (nothing drawn under the boundary); a learning
    rate that makes training diverge stops it with a message, and the page keeps working."""
    driver.get(playground)
    wait(driver, lambda: driver.execute_script(
        "return document.getElementById('losses').dataset.train !== undefined"))
    driver.execute_script("""
        const set = (id, v) => { document.getElementById(id).value = v; };
        set('dataset', 'xor'); set('hidden', '16 16 16 16 16 16'); set('activation', 'linear');
        set('lr', '10'); set('batch_size', '1');
        for (const f of ['x1sq', 'x2sq', 'x1x2'])
          document.querySelector(`#features input[value="${f}"]`).checked = true;""")
    driver.find_element(By.ID, "apply").click()
    wait(driver, lambda: driver.find_element(By.ID, "net-title").text.upper() ==
         "THE NETWORK: 5 → 16 → 16 → 16 → 16 → 16 → 16 → 1, LINEAR")
    right, left = driver.execute_script("""return [
        document.getElementById('net').getBoundingClientRect().right,
        document.getElementById('boundary').getBoundingClientRect().left];""")
    assert right <= left, (right, left)
    driver.find_element(By.ID, "run").click()
    wait(driver, lambda: state(driver)["error"] is not None)
    s = state(driver)
    assert "training diverged at step" in s["error"] and "Lower the learning rate (now 10)" in \
        s["error"]
    assert driver.find_element(By.ID, "run").text == "▶ start"  # paused
    assert s["step"] > 0 and "undefined" not in driver.find_element(By.ID, "counter").text
