"""In a real browser: log into the demo's admin, flip a transition, and see a page of the demo
read the other column; flip back and see the old one.

The demo project runs as itself, not under the test settings: a copy of ``demo_project/`` in
the test's temporary folder, prepared by its own command (``manage.py rehearse``: a fresh
SQLite database in the copy, every row backfilled, the switches off, a superuser whose
credentials it prints) and served by ``manage.py runserver --noreload`` on a free port.
Headless Chromium from Debian's packages (``/usr/bin/chromium``, driven through
``/usr/bin/chromedriver`` by Selenium) then does what a person on call does:

1. opens the shop page, which reads order 1001's ``reference`` from the old column, ``number``;
2. logs into ``/admin/`` with the printed credentials, opens Schema transitions, flips
   ``shop.Order.reference`` to new through the confirmation page (reason typed; verify runs
   and is clean);
3. writes, by raw SQL around the ORM, a ``reference`` that differs from that row's ``number``
   (7001 against 1001), so that the page shows which column it read: it shows 7001. (Written
   after the flip: a row whose shapes differ rightly makes verify refuse the flip to new.)
4. flips back to old in the admin: the same page, on the same data, shows 1001 again.

Screenshots of each step are saved in the test's temporary folder (kept by pytest after the
run) and their paths printed, for CI to keep as artifacts.

The test needs Chromium and its driver (``apt-get install chromium chromium-driver``; .ci/run
installs them): without them it is skipped, and fails when ``CI=true`` so that CI never skips
it silently. It never touches the test database, so .ci/run deselects it (marker ``browser``)
on the PostgreSQL and MariaDB legs, where it would run the same thing again.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = "apt-get install -y chromium chromium-driver; pip install -e '.[test]' (selenium)"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    "--window-size=1280,1400",
]
LABEL = "shop.Order.reference"
OLD_NUMBER = "1001"  # order 1's number, as rehearse writes it (its reference agrees)
NEW_REFERENCE = 7001  # written into order 1's reference only, by raw SQL
SERVER_TIMEOUT = 30.0  # for runserver to answer
# How long a page may take to read the flipped side: FLAGSCHEMA_FLAG_TTL (1 s in the demo)
# plus a generous margin for a loaded machine. The admin flips in the server's own process,
# which forgets its copy of the flag at once, so the first load normally shows it.
FLIP_TIMEOUT = 10.0
PAGE_TIMEOUT = 30.0  # for a page to load after a click


def require_browser() -> Any:
    """Selenium's webdriver module, once Chromium, its driver and Selenium are all there.

    Called first in the test (the demo and the browser are context managers, not fixtures),
    so that under CI=true their absence is reported as a failure of the test, not an error in
    a fixture, and nothing is started for a test that is skipped."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    try:
        from selenium import webdriver
    except ImportError:
        webdriver = None
        missing.append("the Python package selenium")
    if missing:
        message = f"the browser test needs {', '.join(missing)}: {INSTALL}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)
    return webdriver


@dataclass
class Demo:
    url: str
    database: Path
    username: str
    password: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_server(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    # Straight to 127.0.0.1, whatever http_proxy says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + SERVER_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"runserver exited with {process.returncode}:\n{log.read_text()}")
        try:
            with opener.open(f"{url}/admin/login/", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"runserver did not answer in {SERVER_TIMEOUT} s:\n{log.read_text()}")
        time.sleep(0.2)


@contextlib.contextmanager
def demo_server(tmp_path: Path) -> Iterator[Demo]:
    """The demo project, copied, rehearsed and served by runserver on a free port."""
    project = tmp_path / "demo_project"
    shutil.copytree(
        ROOT / "demo_project",
        project,
        ignore=shutil.ignore_patterns("db.sqlite3*", "__pycache__", ".ruff_cache", ".mypy_cache"),
    )
    env = {
        **os.environ,
        # The demo's settings, not the test suite's (pytest-django exports those).
        "DJANGO_SETTINGS_MODULE": "demo.settings",
        # flagschema from this checkout, installed or not.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
    }
    rehearsal = subprocess.run(
        [sys.executable, "manage.py", "rehearse"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    (tmp_path / "rehearse.log").write_text(rehearsal.stdout + rehearsal.stderr)
    assert rehearsal.returncode == 0, rehearsal.stdout + rehearsal.stderr
    # The credentials as the demo command prints them.
    username = re.search(r"^\s*username\s+(\S+)", rehearsal.stdout, re.MULTILINE)
    password = re.search(r"^\s*password\s+(\S+)", rehearsal.stdout, re.MULTILINE)
    assert username and password, f"rehearse printed no credentials:\n{rehearsal.stdout}"

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "runserver.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_server(url, server, log)
        yield Demo(url, project / "db.sqlite3", username[1], password[1])
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextlib.contextmanager
def chromium(webdriver: Any, tmp_path: Path) -> Iterator[Any]:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in [*CHROMIUM_ARGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(argument)
    # The driver's path is given, so Selenium Manager (which would download one) never runs.
    service = Service(
        executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log")
    )
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


class Page:
    """What a person sees and does, through Selenium."""

    def __init__(self, driver: Any, demo: Demo, folder: Path):
        from selenium.webdriver.common.by import By

        self.by = By
        self.driver = driver
        self.demo = demo
        self.folder = folder
        self.screenshots: list[Path] = []

    def open(self, path: str) -> None:
        self.driver.get(f"{self.demo.url}{path}")

    def find(self, css: str) -> Any:
        return self.driver.find_element(self.by.CSS_SELECTOR, css)

    def click(self, element: Any) -> None:
        """Click a link or a submit button and wait for the next page: the old page's
        elements gone stale, the new one loaded. (A click returns before the navigation it
        starts, so the next find could otherwise land on the page being left.)"""
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        page = self.find("html")
        element.click()
        wait = WebDriverWait(self.driver, PAGE_TIMEOUT, poll_frequency=0.05)
        wait.until(expected_conditions.staleness_of(page))
        wait.until(lambda d: d.execute_script("return document.readyState") == "complete")

    def xpath(self, xpath: str) -> Any:
        return self.driver.find_element(self.by.XPATH, xpath)

    def screenshot(self, name: str) -> Path:
        path = self.folder / f"{len(self.screenshots) + 1:02d}-{name}.png"
        assert self.driver.save_screenshot(str(path)), f"no screenshot saved at {path}"
        self.screenshots.append(path)
        return path

    # --- the demo's shop page --------------------------------------------------------------

    def orders(self) -> tuple[str, str]:
        """(the side the orders table says it reads, the first order's reference)."""
        side = self.xpath("//h2[normalize-space()='Orders']/following-sibling::p[1]")
        first = self.xpath(
            "//h2[normalize-space()='Orders']/following-sibling::table[1]/tbody/tr[1]/td[1]"
        )
        return side.text, first.text

    def shop_reads(self, side: str, column: str, reference: str) -> float:
        """Reload the shop page until its orders come from *column*, showing *reference*;
        return the seconds that took."""
        expected = (f"read from the {side} side: column {column}", reference)
        start = time.monotonic()
        while True:
            self.open("/")
            said, shown = self.orders()
            if expected[0] in said and shown == expected[1]:
                return time.monotonic() - start
            if time.monotonic() - start > FLIP_TIMEOUT:
                pytest.fail(
                    f"after {FLIP_TIMEOUT} s the shop page still says {said!r} and shows "
                    f"reference {shown!r}; expected {expected}"
                )
            time.sleep(0.2)

    # --- the admin -------------------------------------------------------------------------

    def log_in(self) -> None:
        self.open("/admin/")
        assert "/admin/login/" in self.driver.current_url
        self.find("#id_username").send_keys(self.demo.username)
        self.find("#id_password").send_keys(self.demo.password)
        self.click(self.find("#login-form input[type=submit]"))
        assert self.find("#site-name").text == "Django administration"
        assert "Site administration" in self.driver.title, self.driver.title

    def flip(self, to: str, reason: str, screenshot: str) -> str:
        """From the admin's index: Transitions, the row's "Flip to <to>", the confirmation
        with a reason; return the message the admin shows after the flip."""
        self.open("/admin/")
        self.click(self.driver.find_element(self.by.LINK_TEXT, "Transitions"))
        assert self.find("#content h1").text == "Schema transitions"
        row = self.find(f'tr[data-label="{LABEL}"]')
        self.click(row.find_element(self.by.LINK_TEXT, f"Flip to {to}"))
        assert self.find("#content h1").text == f"Flip {LABEL} to {to}"
        self.find("#id_reason").send_keys(reason)
        self.screenshot(f"{screenshot}-confirmation")
        self.click(self.find(".flagschema-flip-form input[type=submit]"))
        # Back on the transition's page, with the admin's message and the flip in its history.
        assert self.find("#content h1").text == LABEL
        # (The admin capitalises the first letter of its messages: "Shop.Order.reference".)
        message = self.find(".messagelist .success").text
        assert reason in self.find(".flagschema-history tbody tr").text
        self.screenshot(f"{screenshot}-done")
        return str(message)


def write_reference(database: Path, number: str, reference: int) -> None:
    """Around the ORM, as raw SQL does: the order *number* gets a different reference."""
    with sqlite3.connect(database, timeout=10) as db:
        changed = db.execute(
            "UPDATE shop_order SET reference = ? WHERE number = ?", [reference, int(number)]
        ).rowcount
    assert changed == 1


def test_flip_in_the_admin_and_the_shop_reads_the_other_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    webdriver = require_browser()
    with demo_server(tmp_path) as demo, chromium(webdriver, tmp_path) as driver:
        page = Page(driver, demo, tmp_path)
        timings: dict[str, float] = {}
        try:
            run(page, timings)
        finally:
            with capsys.disabled():
                print(f"\nbrowser test: the shop page read the flipped side after {timings}")
                for path in page.screenshots:
                    print(f"browser test screenshot: {path}")

    # The admin recorded both flips, in the demo's database.
    with sqlite3.connect(demo.database) as db:
        flips = db.execute(
            "SELECT from_side, to_side, actor, source FROM flagschema_flipevent "
            "WHERE label = ? AND source = 'admin' ORDER BY id",
            [LABEL],
        ).fetchall()
    assert flips == [
        ("old", "new", demo.username, "admin"),
        ("new", "old", demo.username, "admin"),
    ]


def run(page: Page, timings: dict[str, float]) -> None:
    shop_reads = page.shop_reads

    # Rehearsed: every row holds both shapes, the switch is off, orders read `number`.
    shop_reads("old", "number", OLD_NUMBER)
    page.screenshot("shop-reads-old")

    page.log_in()
    message = page.flip("new", "browser test: read the new column", "admin-flip-to-new")
    assert "now reads NEW (was OLD)" in message and LABEL.lower() in message.lower(), message
    timings["new"] = shop_reads("new", "reference", OLD_NUMBER)

    # Order 1001 gets a reference of its own, only in the new column: the page shows it.
    write_reference(page.demo.database, OLD_NUMBER, NEW_REFERENCE)
    shop_reads("new", "reference", str(NEW_REFERENCE))
    page.screenshot("shop-reads-new-column")

    # The rollback: the same data, read from `number` again.
    message = page.flip("old", "browser test: roll back", "admin-flip-to-old")
    assert "now reads OLD (was NEW)" in message and LABEL.lower() in message.lower(), message
    timings["old"] = shop_reads("old", "number", OLD_NUMBER)
    page.screenshot("shop-reads-old-column-again")
