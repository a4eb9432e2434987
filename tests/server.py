"""A live `streamlit run app.py` on loopback, and Debian's Chromium: shared by the e2e and load tests.

Without Chromium (or the playwright package) the browser tests skip with a loud reason;
with CI=true a missing browser is a failure, not a skip.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "test-output"  # server logs; screenshots under OUTPUT / "screenshots"
CHROMIUM = os.environ.get("PEFT_LAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def browser_problem() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements-dev.txt)"
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


def require_browser() -> None:
    """Skip the calling test (fail it on CI) when there is no browser to drive."""
    problem = browser_problem()
    if problem is None:
        return
    message = f"E2E BROWSER TESTS CANNOT RUN: {problem}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " — on CI a missing browser is a failure")
    print("\n" + "!" * 70 + "\n" + message + "\n" + "!" * 70)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    """Until Streamlit's /_stcore/health answers 200; fails at once if the server exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("streamlit did not become healthy in time")


class Server(NamedTuple):
    url: str  # http://127.0.0.1:<port>
    started: float  # time.monotonic() just before the process was started
    proc: subprocess.Popen


@contextmanager
def running_app(log_name: str = "streamlit-e2e.log", port: int | None = None, args: tuple[str, ...] = (),
                env: dict[str, str] | None = None) -> Iterator[Server]:
    """`streamlit run app.py` on a loopback port (a free one unless given), offline, healthy on
    entry, stopped on exit; its output goes to test-output/<log_name>. ``args`` and ``env``
    add command-line options and environment variables."""
    port = port or free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1", **(env or {}))
    OUTPUT.mkdir(exist_ok=True)
    with open(OUTPUT / log_name, "w") as log:
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", "--client.showErrorDetails", "full", *args],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            server = Server(f"http://127.0.0.1:{port}", started, proc)
            wait_healthy(server.url, proc)
            yield server
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
