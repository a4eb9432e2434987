"""Classroom load test: one `streamlit run app.py`, many real browser sessions at once.

Run it directly for the report (loopback only, bounded in time):

    python -m tests.load.classroom --sessions 20 --trainers 5

Each learner session (a Playwright context on Debian's Chromium) opens the home page, a
method page (moves its slider), the calculator (moves a slider) and the quiz (answers a
question). `--trainers` of them start a live fine-tune in the lab at the same moment.
It reports page response times (median, p95) without and with training running, how the
queued runs proceed, errors seen, and the server's memory before, during and after.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass, field

import psutil

from tests.server import CHROMIUM, CHROMIUM_ARGS, running_app

IDLE_JS = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
LEARNER_PAGES = ("", "lora", "calculator", "quiz")  # "" is the home page


@dataclass
class Report:
    times_idle: list[float] = field(default_factory=list)  # page response times, no training
    times_busy: list[float] = field(default_factory=list)  # page response times, training running
    errors: list[str] = field(default_factory=list)
    memory_mb: dict[str, float] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)  # what the trainers' lab pages said
    wall_s: float = 0.0
    warm_up_s: float = 0.0  # warm-up run until the server was idle
    drain_s: float = 0.0  # after the tabs closed, until the server was idle again
    cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds under load: server vs browsers

    def summary(self) -> dict:
        def stats(xs: list[float]) -> dict:
            if not xs:
                return {"n": 0}
            xs = sorted(xs)
            p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
            return {"n": len(xs), "median_s": round(statistics.median(xs), 2), "p95_s": round(p95, 2)}

        return {
            "page_response_no_training": stats(self.times_idle),
            "page_response_during_training": stats(self.times_busy),
            "errors": self.errors,
            "server_memory_mb": self.memory_mb,
            "runs": self.runs,
            "wall_s": round(self.wall_s, 1),
            "warm_up_s": self.warm_up_s,
            "drain_s": self.drain_s,
            "cpu_seconds_under_load": self.cpu_s,
        }


def cpu_seconds(procs) -> float:
    total = 0.0
    for p in procs:
        try:
            total += sum(p.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def browser_procs() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if "chrom" in (p.info["name"] or "")]


def server_rss_mb(proc: psutil.Process) -> float:
    procs = [proc, *proc.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs if p.is_running()) / 1e6


async def wait_server_idle(proc: psutil.Process, timeout: float = 600, quiet_s: int = 4) -> float:
    """Wait until the server has used < 10% of a core for `quiet_s` seconds in a row (no run
    in progress); returns the seconds waited. Memory is read only on an idle server."""
    t0 = time.monotonic()
    quiet = 0
    while quiet < quiet_s and time.monotonic() - t0 < timeout:
        procs = [proc, *proc.children(recursive=True)]
        before = cpu_seconds(procs)
        await asyncio.sleep(1)
        quiet = quiet + 1 if cpu_seconds(procs) - before < 0.1 else 0
    return time.monotonic() - t0


async def warm_up_lab(browser, base: str, report: Report) -> None:
    """One short real run fills the process-wide caches a class shares (the pretrained
    model, tokenizer, encoded data, the head-only baseline run): memory they take once is
    not a leak, so the load's memory start is read after them."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(300_000)
    try:
        await open_page(page, f"{base}/lab", report, asyncio.Event(), "lab (warm-up)")
        steps = page.get_by_label("Steps")
        if await steps.count():
            await steps.first.fill("10")
            await steps.first.press("Enter")
            await page.wait_for_function(IDLE_JS, timeout=60_000)
        await page.get_by_role("button", name="Start", exact=False).first.click()
        await page.wait_for_timeout(5_000)
        await check_errors(page, report, "lab (warm-up)")
    except Exception as exc:
        report.errors.append(f"warm-up: {type(exc).__name__}: {str(exc)[:300]}")
    finally:
        await context.close()  # its run stops with the session; the shared baseline goes on


async def open_page(page, url: str, report: Report, busy: asyncio.Event, name: str) -> None:
    """Navigate and time until the script has finished and no exception is shown."""
    t0 = time.monotonic()
    await page.goto(url, wait_until="domcontentloaded")
    await page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=300_000)
    await page.wait_for_function(IDLE_JS, timeout=300_000)
    elapsed = time.monotonic() - t0
    (report.times_busy if busy.is_set() else report.times_idle).append(elapsed)
    await check_errors(page, report, name)


async def check_errors(page, report: Report, where: str) -> None:
    errors = page.locator('[data-testid="stException"]')
    if await errors.count():
        report.errors.append(f"{where}: {(await errors.first.inner_text())[:300]}")


async def nudge_slider(page, report: Report, where: str) -> None:
    """Move the first slider on the page one step with the keyboard, wait for the rerun."""
    thumbs = page.locator('[data-testid="stSlider"] [role="slider"]')
    if await thumbs.count() == 0:
        return
    await thumbs.first.focus()
    await page.keyboard.press("ArrowRight")
    await page.wait_for_timeout(300)
    await page.wait_for_function(IDLE_JS, timeout=120_000)
    await check_errors(page, report, where + " (slider)")


async def answer_quiz(page, report: Report) -> None:
    await page.get_by_role("button", name="Start quiz").click()
    check = page.get_by_role("button", name="Check answer")
    await check.wait_for(timeout=60_000)
    main = page.locator('[data-testid="stMain"]')  # the sidebar has checkboxes of its own (kept work)
    radios = main.locator('[data-testid="stRadio"] label')
    boxes = main.locator('[data-testid="stCheckbox"] label')
    if await radios.count():
        await radios.first.click()
    elif await boxes.count():
        await boxes.first.click()
    else:
        field_ = main.locator('[data-testid="stTextInput"] input')
        if await field_.count():
            await field_.first.fill("1000")
            await field_.first.press("Enter")
    await page.wait_for_function(IDLE_JS, timeout=60_000)
    await check.click()
    await page.wait_for_function(IDLE_JS, timeout=60_000)
    await check_errors(page, report, "quiz (answer)")


async def learner(browser, base: str, report: Report, busy: asyncio.Event, idx: int) -> None:
    await asyncio.sleep(0.5 * max(idx, 0))  # a class arrives over ~10 s, not in one millisecond
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(300_000)
    try:
        for name in LEARNER_PAGES:
            await open_page(page, f"{base}/{name}", report, busy, name or "home")
            if name in ("lora", "calculator"):
                await nudge_slider(page, report, name)
            if name == "quiz":
                await answer_quiz(page, report)
    except Exception as exc:  # a timeout or a broken page is an error of the run, not a crash
        report.errors.append(f"learner {idx}: {type(exc).__name__}: {str(exc)[:300]}")
    finally:
        await context.close()


async def trainer(browser, base: str, report: Report, busy: asyncio.Event, go: asyncio.Event,
                  idx: int, run_seconds: float) -> None:
    """Open the lab, wait for everyone, press Start together, watch, then close the tab."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(300_000)
    try:
        await open_page(page, f"{base}/lab", report, busy, "lab")
        await go.wait()
        await page.get_by_role("button", name="Start", exact=False).first.click(timeout=300_000)
        busy.set()
        # the run shows up as queued or running (the live panel) before we watch it
        await page.get_by_text(re.compile(r"in the queue|step \d+ of|about to start", re.I)).first.wait_for(timeout=300_000)
        await page.wait_for_timeout(run_seconds * 1000)
        text = await page.locator('[data-testid="stMainBlockContainer"]').inner_text()
        status = re.compile(r"in the queue|step \d+ of|about to start|finished|stopped", re.I)
        lines = [ln.strip() for ln in text.splitlines()
                 if status.search(ln) and len(ln) < 200 and not ln.startswith("Finished runs appear")]
        report.runs.append(f"trainer {idx}: " + (" | ".join(lines[:2]) or "no run status on screen"))
        await check_errors(page, report, f"lab (trainer {idx})")
        stop = page.get_by_role("button", name="Stop")  # runs outlive their tab (a refresh reattaches):
        if await stop.count():  # a learner who is done stops theirs before leaving
            await stop.first.click()
            await page.wait_for_function(IDLE_JS, timeout=120_000)
    except Exception as exc:
        report.errors.append(f"trainer {idx}: {type(exc).__name__}: {str(exc)[:300]}")
    finally:
        await context.close()


async def run_load(sessions: int, trainers: int, port: int, run_seconds: float) -> Report:
    from playwright.async_api import async_playwright

    report = Report()
    t0 = time.monotonic()
    # sessions of closed tabs expire after 2 s, and with them their runs; one run at a time
    options = ("--server.disconnectedSessionTTL", "2")
    # one run at a time; no trained models held for Try it after a run ends (a bounded cache of
    # up to 8 × 90 MB by default, which a leak check would otherwise count)
    max_runs = {"PEFT_LAB_MAX_RUNS": os.environ.get("PEFT_LAB_MAX_RUNS", "1"), "PEFT_LAB_HELD_MODELS": "0"}
    with running_app("streamlit-load.log", port=port, args=options, env=max_runs) as server:
        base, proc = server.url, psutil.Process(server.proc.pid)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            busy, go = asyncio.Event(), asyncio.Event()
            warm = Report()  # one warm-up visit fills the shared caches (not a leak)
            await learner(browser, base, warm, asyncio.Event(), -1)
            await warm_up_lab(browser, base, warm)
            report.errors.extend(warm.errors)
            report.warm_up_s = round(await wait_server_idle(proc), 1)
            report.memory_mb["start"] = round(server_rss_mb(proc), 1)
            learners = [learner(browser, base, report, busy, i) for i in range(sessions - trainers)]
            trains = [trainer(browser, base, report, busy, go, i, run_seconds) for i in range(trainers)]

            async def release() -> None:
                await asyncio.sleep(2)
                go.set()

            finished = asyncio.Event()

            async def sample_memory() -> None:  # every second until the last session is done
                peak = 0.0
                while not finished.is_set():
                    peak = max(peak, server_rss_mb(proc))
                    report.memory_mb["during_peak"] = round(peak, 1)
                    await asyncio.sleep(1)

            sampler = asyncio.create_task(sample_memory())
            cpu0 = (cpu_seconds([proc, *proc.children(recursive=True)]), cpu_seconds(browser_procs()))
            await asyncio.gather(*trains, *learners, release())
            cpu1 = (cpu_seconds([proc, *proc.children(recursive=True)]), cpu_seconds(browser_procs()))
            report.cpu_s = {"server": round(cpu1[0] - cpu0[0], 1), "browsers": round(cpu1[1] - cpu0[1], 1)}
            busy.clear()
            finished.set()
            await sampler
            await browser.close()
        await asyncio.sleep(5)  # sessions expire (disconnectedSessionTTL=2): their runs stop
        report.drain_s = round(await wait_server_idle(proc), 1)
        # "after": the server once the closed sessions are gone; sessions are cleaned up
        # by Streamlit's periodic checks (and a finished run's model cache is trimmed by a thread),
        # so read it for up to a minute and keep the settled value
        after = []
        for _ in range(31):
            after.append(server_rss_mb(proc))
            if after[-1] <= report.memory_mb["start"] * 1.02:
                break
            await asyncio.sleep(2)
        report.memory_mb["after_first_read"] = round(after[0], 1)
        report.memory_mb["after"] = round(min(after), 1)
    gc.collect()
    report.wall_s = time.monotonic() - t0
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--trainers", type=int, default=5)
    parser.add_argument("--port", type=int, default=8611)
    parser.add_argument("--run-seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    report = asyncio.run(run_load(args.sessions, args.trainers, args.port, args.run_seconds))
    print(json.dumps(report.summary(), indent=2))
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
