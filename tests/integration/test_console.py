"""`armbrain console` against the whole graph (launch/graph.yaml, two cubes), driven by a real
headless Chromium (Debian's `chromium`) through Playwright: the page lists the scene, a typed
goal succeeds with live progress, cancel ends a goal CANCELED, the e-stop holds the arm and
refuses goals until released, and a console that requires its token shows a client without it
only the e-stop and takes no command from it but the stop.

Screenshots of each state go to $ARMBRAIN_CONSOLE_SHOTS (default: the test's tmp_path).
"""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import ARMBRAIN, ROOT, TESTS, Launched, Spinner, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.sim]
GRAPH = ROOT / "launch" / "graph.yaml"
SCENARIO = TESTS / "scenarios" / "two_cubes.yaml"
CHROMIUM_PACKAGE = "chromium"  # Debian's
MOTION_STAGES = ("approach", "close", "verify_held", "lift", "transfer")  # the arm moves (or grips)
TOKEN = "console-test-token"


def find_chromium() -> str:
    """Debian's chromium; installed with apt-get where this run may (root), else the test fails
    naming the package. Never skipped: the browser is a dependency of `make test`."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "--no-install-recommends", CHROMIUM_PACKAGE]
        done = subprocess.run(install, env=env, capture_output=True, text=True)
        if done.returncode != 0:  # an old package list: refresh it once
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, text=True)
            done = subprocess.run(install, env=env, capture_output=True, text=True)
        found = shutil.which("chromium")
        if found:
            return found
        pytest.fail(f"could not install Debian's '{CHROMIUM_PACKAGE}' (apt-get said: {done.stderr[-500:]}); "
                    f"install it: apt-get install {CHROMIUM_PACKAGE}")
    pytest.fail(f"the console tests need Debian's '{CHROMIUM_PACKAGE}' (not found on PATH); "
                f"install it as root: apt-get install {CHROMIUM_PACKAGE}")


@pytest.fixture(scope="session")
def chromium() -> str:
    return find_chromium()


def start_console(domain_id: int, *options: str, env_extra: dict | None = None) -> tuple[Launched, str]:
    env = dict(os.environ, **(env_extra or {}))
    console = Launched([str(ARMBRAIN), "console", "--port", "0", "--domain-id", str(domain_id), *options], env)
    url = console.wait_for_output(r"armbrain console: (http://\S+) ", 60).group(1)
    return console, url


class Watcher:
    """The test's own node: joint_states, the arm's commands, the simulator's verdict."""

    def __init__(self, context) -> None:
        from rclpy.node import Node
        from sensor_msgs.msg import JointState
        from trajectory_msgs.msg import JointTrajectory

        self.node = Node("console_test_watcher", context=context)
        self.joints: list[tuple[float, list[float]]] = []
        self.commands: list[float] = []
        self.node.create_subscription(JointState, "joint_states",
                                      lambda m: self.joints.append((time.monotonic(), list(m.position[:7]))), 10)
        # (the arm's 7 joints: under the e-stop the fingers finish their last command, so a grip holds)
        self.node.create_subscription(JointTrajectory, "arm_controller/joint_trajectory",
                                      lambda m: self.commands.append(time.monotonic()), 10)
        self.spinner = Spinner(self.node, context)

    def still_for(self, seconds: float) -> float:
        """The largest joint motion (rad) over the next `seconds` of wall time."""
        wait_for(lambda: self.joints, 30, "joint_states")
        t0 = time.monotonic()
        start = self.joints[-1][1]
        wait_for(lambda: self.joints[-1][0] > t0 + seconds, seconds + 30, "joint_states to go on")
        return max(max(abs(a - b) for a, b in zip(p, start, strict=True)) for t, p in self.joints if t >= t0)

    def check_success(self):
        from std_srvs.srv import Trigger

        client = self.node.create_client(Trigger, "sim/check_success")
        assert client.wait_for_service(timeout_sec=30)
        fut = client.call_async(Trigger.Request())
        wait_for(fut.done, 30, "sim/check_success")
        return fut.result()

    def close(self) -> None:
        self.spinner.close()
        self.node.destroy_node()


def post(page, path: str, body: dict, token: str | None = None) -> int:
    """A command as the page sends it (fetch from the page), with or without the token: the status."""
    return page.evaluate("""async ([path, body, token]) => {
        const headers = {"Content-Type": "application/json", "X-Armbrain-Console": "1"};
        if (token) headers["X-Armbrain-Token"] = token;
        const r = await fetch(path, {method: "POST", headers, body: JSON.stringify(body)});
        return r.status; }""", [path, body, token])


def raw_request(url: str, method: str, path: str, headers: dict, body: bytes | None = None) -> int:
    """A request to the console as any program (or another site) could send it: the status."""
    where = urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def stage_reached(page, stages) -> bool:
    text = page.inner_text("#cur-stage")
    return any(f"stage {s}," in text for s in stages)


def give_goal(page, goal: str, until_stage=MOTION_STAGES) -> None:
    """Type `goal`, send it, and wait until the page shows one of `until_stage` (the arm moving)."""
    page.fill("#goal", goal)
    page.click("#send")
    wait_for(lambda: stage_reached(page, until_stage), 120, f"a motion stage of '{goal}' in the page")


@pytest.fixture
def shots(tmp_path) -> Path:
    d = Path(os.environ.get("ARMBRAIN_CONSOLE_SHOTS", tmp_path))
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_console_in_the_browser(launch, domain_id, ros_context, chromium, shots):
    from playwright.sync_api import expect, sync_playwright

    run = launch(GRAPH, f"scenario:={SCENARIO}", "seed:=0")
    console, url = start_console(domain_id)
    locked, locked_url = start_console(domain_id, "--require-token", env_extra={"ARMBRAIN_CONSOLE_TOKEN": TOKEN})
    assert TOKEN in locked.output and TOKEN not in console.output
    watcher = Watcher(ros_context)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True)
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.on("dialog", lambda d: d.accept())  # the release asks "are you sure?"
            page.goto(url)
            expect(page.locator("#estop")).to_be_visible()

            # The page lists the scene's objects, shows the camera with the overlay, and the graph's health.
            expect(page.locator("#objects")).to_contain_text("red cube", timeout=120_000)
            expect(page.locator("#objects")).to_contain_text("blue cube")
            page.wait_for_function("document.getElementById('frame').naturalWidth > 0", timeout=60_000)
            expect(page.locator("#health")).to_contain_text("planner", timeout=30_000)
            expect(page.locator("#send")).to_be_enabled(timeout=60_000)
            options = page.eval_on_selector_all("#suggestions option", "os => os.map(o => o.value)")
            assert "put the red cube in the bin" in options and "stack the blue cube on the red cube" in options
            page.screenshot(path=str(shots / "1-idle.png"), full_page=True)

            # A typed goal succeeds, with live progress (stages appear while it runs).
            give_goal(page, "put the red cube in the bin")
            expect(page.locator("#cur-status")).to_have_text("running")
            assert page.locator("#cur-stages tr").count() >= 3
            width = page.eval_on_selector("#cur-bar", "e => parseFloat(e.style.width)")
            assert width > 0
            # one goal at a time: this console refuses a second one while the first runs
            assert post(page, "/api/goal", {"goal": "pick up the blue cube"}) == 409
            page.screenshot(path=str(shots / "2-running.png"), full_page=True)
            expect(page.locator("#cur-status")).to_have_text("succeeded", timeout=180_000)
            stages = page.inner_text("#cur-stages")
            for s in ("perceive", "select", "approach", "close", "place", "release"):
                assert s in stages
            expect(page.locator("#history li").first).to_contain_text("succeeded")
            verdict = watcher.check_success()
            assert verdict.success, verdict.message
            expect(page.locator("#objects")).not_to_contain_text("red cube", timeout=30_000)
            page.screenshot(path=str(shots / "3-succeeded.png"), full_page=True)

            # Cancel ends a running goal CANCELED.
            give_goal(page, "pick up the blue cube")
            page.click("#cancel")
            expect(page.locator("#cur-status")).to_have_text("canceled", timeout=30_000)
            expect(page.locator("#cur-stage")).to_contain_text("CANCELED")
            page.screenshot(path=str(shots / "4-canceled.png"), full_page=True)

            # The e-stop holds the arm in a running goal and refuses goals until released.
            give_goal(page, "put the blue cube in the bin")
            page.click("#estop")
            expect(page.locator("#estop-state")).to_have_text("E-STOP ENGAGED", timeout=5_000)
            expect(page.locator("#cur-status")).to_have_text("aborted", timeout=30_000)
            expect(page.locator("#cur-stage")).to_contain_text("ESTOPPED")
            assert watcher.still_for(1.5) < 1e-3
            expect(page.locator("#estop-detail")).to_contain_text("planner", timeout=10_000)  # acknowledged
            page.fill("#goal", "pick up the blue cube")
            page.click("#send")
            expect(page.locator("#history li").first).to_contain_text("ESTOPPED", timeout=30_000)
            expect(page.locator("#cur-status")).to_have_text("aborted")
            page.screenshot(path=str(shots / "5-estopped.png"), full_page=True)
            page.click("#release")
            expect(page.locator("#estop-state")).to_have_text("e-stop released", timeout=10_000)
            expect(page.locator("#release")).to_be_hidden()
            expect(page.locator("#health")).not_to_contain_text("ERROR", timeout=15_000)  # every node released
            page.screenshot(path=str(shots / "6-released.png"), full_page=True)

            # A tablet held upright: one column, the e-stop still on screen after scrolling.
            tablet = browser.new_page(viewport={"width": 820, "height": 1180}, has_touch=True, is_mobile=True)
            tablet.goto(url)
            expect(tablet.locator("#objects")).to_contain_text("blue cube", timeout=30_000)
            tablet.mouse.wheel(0, 2000)
            expect(tablet.locator("#estop")).to_be_in_viewport()
            tablet.screenshot(path=str(shots / "7-tablet.png"))

            # What another site could make a browser send is refused: a foreign Host (DNS rebinding),
            # a command without the console's header (a cross-site form or simple request).
            assert raw_request(url, "GET", "/api/state", {"Host": f"evil.example:{urlsplit(url).port}"}) == 400
            assert raw_request(url, "POST", "/api/estop", {"Content-Type": "application/json"},
                               b'{"engaged": false}') == 403
            assert raw_request(url, "GET", "/api/state", {}) == 200

            # A console that requires its token: a client without it sees only the e-stop, and can
            # engage it, but cannot send goals, cancel, or release.
            stranger = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
            stranger.goto(locked_url)
            expect(stranger.locator("#auth")).to_be_visible(timeout=30_000)
            expect(stranger.locator("#main")).to_be_hidden()
            assert post(stranger, "/api/goal", {"goal": "put the blue cube in the bin"}) == 401
            assert post(stranger, "/api/cancel", {}) == 401
            state = stranger.evaluate("fetch('/api/state').then(r => r.json())")
            assert set(state) == {"version", "authorised", "estop"}
            html = stranger.content()
            assert "blue cube" not in html and "obj_" not in html
            assert stranger.eval_on_selector("#frame", "e => e.naturalWidth") == 0
            stranger.screenshot(path=str(shots / "8-no-token.png"), full_page=True)
            stranger.click("#estop")  # no token needed to stop
            expect(stranger.locator("#estop-state")).to_have_text("E-STOP ENGAGED", timeout=5_000)
            expect(page.locator("#estop-state")).to_have_text("E-STOP ENGAGED", timeout=10_000)
            assert post(stranger, "/api/estop", {"engaged": False}) == 401
            assert post(stranger, "/api/estop", {"engaged": True}, token=None) == 200
            # with the token (from the printed address) the same console shows everything and releases
            operator = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
            operator.on("dialog", lambda d: d.accept())
            operator.goto(f"{locked_url}?token={TOKEN}")
            expect(operator.locator("#objects")).to_contain_text("blue cube", timeout=30_000)
            assert "token" not in operator.url  # kept for the tab, out of the address bar
            operator.click("#release")
            expect(operator.locator("#estop-state")).to_have_text("e-stop released", timeout=10_000)
            expect(page.locator("#estop-state")).to_have_text("e-stop released", timeout=10_000)
            browser.close()
    finally:
        watcher.close()
        codes = (console.stop(), locked.stop())
    assert codes == (0, 0), console.output[-2000:] + locked.output[-2000:]
    assert "Traceback" not in console.output + locked.output, console.output + locked.output
    assert run.stop(timeout=60) == 0, run.output[-3000:]
