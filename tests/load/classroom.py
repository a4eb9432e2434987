"""Classroom load test: one `streamlit run app.py`, a class of protocol-level tabs, two real browsers.

    python -m tests.load.classroom --sessions 100 --think 10 --trainers 5     # the full target
    python -m tests.load.classroom --sessions 20 --think 1.5 --steps 30       # about what CI runs

Each learner is a websocket tab that speaks Streamlit's own protobuf messages
(``tests/load/protocol.py``), so the machine measures the server, not browsers. A learner
arrives at a random moment within one think time, opens six pages in its tab (home, the LoRA
page, the calculator, compare, the quiz, the lab), moves a slider on the LoRA page and in the
calculator and starts a quiz, thinking ``--think`` seconds (0.5-1.5x) between actions; every
tab is a new learner (the app gives it a ``?learner=`` code). Two real Chromium sessions
(Playwright, at a lower CPU priority: ``niced_chromium``) open pages in the middle of each phase
and check what a learner sees: the title, no exception box.

Two phases, each with fresh learners: "no training", then "5 lab runs queued": first
``--trainers`` tabs open the lab (``?method=lora&steps=N``), press Start together and keep
their tab open, sending the live panel's timer reruns as a browser does; when the learners
are done they press Stop (runs belong to the learner and outlive the tab, so a learner stops
theirs before leaving) and close. Reported per phase: page-run latency (rerun sent ->
script_finished) median/p95 per page and action, page runs per second, errors, the server's
RSS (server + children) before/peak/after, the load generator's own CPU per second, and the
page runs that overlapped a Chromium tab loading against the rest (a diagnostic: the browsers
render on the same cores). The whole run has a hard timeout.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field

import psutil

from tests.load.measure import (TTL_S, process_cpu_s, server_cpu, server_rss_mb, settled_rss, stats,
                                wait_server_idle)
from tests.load.protocol import PageRun, Tab
from tests.server import CHROMIUM, CHROMIUM_ARGS, browser_problem, running_app

PAGES = ("", "lora", "calculator", "compare", "quiz", "lab")  # URL paths; "" is home
SLIDER_PAGES = ("lora", "calculator")  # a learner moves the first slider of these
PAGE_LOG = os.path.join(tempfile.mkdtemp(prefix="peft-lab-load-log-"), "page-runs.jsonl")  # ui/perf.py writes it
IDLE_JS = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"


def name_of(page: str) -> str:
    return page or "home"


@dataclass
class Phase:
    name: str
    runs: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # action -> latencies
    errors: list[str] = field(default_factory=list)
    memory_mb: dict[str, float] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)  # what the Chromium sessions and the trainers saw
    wall_s: float = 0.0
    server_cpu: dict = field(default_factory=dict)  # the app's own CPU seconds per page run (ui/perf.py)
    ended: list[tuple[float, float]] = field(default_factory=list)  # (monotonic end, latency) of page runs
    browser_windows: list[tuple[float, float]] = field(default_factory=list)  # when a Chromium tab was loading

    def record(self, action: str, run: PageRun, who: str) -> PageRun:
        self.runs[action].append(run.latency_s)
        if action != "lab (live)":
            self.ended.append((time.monotonic(), run.latency_s))
        self.errors.extend(f"{who} {action}: {e}" for e in run.errors)
        if not run.fragment and not run.title:
            self.errors.append(f"{who} {action}: no page title (h1) drawn")
        return run

    def beside_browsers(self) -> dict:
        """Page runs that overlapped a Chromium tab loading a page (the browsers render on the
        same two cores) and those that did not: a diagnostic, the targets use all page runs."""
        def overlaps(end: float, latency: float) -> bool:
            return any(end - latency < b1 and end > b0 for b0, b1 in self.browser_windows)

        inside = [t for end, t in self.ended if overlaps(end, t)]
        outside = [t for end, t in self.ended if not overlaps(end, t)]
        return {"while_a_browser_loads": stats(inside), "otherwise": stats(outside),
                "browser_seconds": round(sum(b1 - b0 for b0, b1 in self.browser_windows), 1)}

    def summary(self) -> dict:
        page_runs = [t for action, ts in self.runs.items() if action != "lab (live)" for t in ts]
        return {
            "wall_s": round(self.wall_s, 1),
            "page_runs": stats(page_runs),
            "page_runs_per_s": round(len(page_runs) / self.wall_s, 2) if self.wall_s else 0.0,
            "fragment_runs_per_s": round(len(self.runs.get("lab (live)", [])) / self.wall_s, 2) if self.wall_s else 0.0,
            "per_page": {action: stats(ts) for action, ts in sorted(self.runs.items())},
            "errors": len(self.errors),
            "error_messages": self.errors[:20],
            "server_rss_mb": self.memory_mb,
            "server_cpu_per_page_run": self.server_cpu,
            "page_runs_beside_chromium": self.beside_browsers(),
            "seen": self.seen,
        }


@dataclass
class Report:
    phases: list[Phase] = field(default_factory=list)
    warm_up: Phase = field(default_factory=lambda: Phase("warm-up"))
    memory_mb: dict[str, float] = field(default_factory=dict)  # start (after the warm-up), after
    errors: list[str] = field(default_factory=list)  # of the whole run (a timeout, a broken warm-up)
    settings: dict = field(default_factory=dict)
    wall_s: float = 0.0

    def all_errors(self) -> list[str]:
        return self.errors + self.warm_up.errors + [e for p in self.phases for e in p.errors]

    def summary(self) -> dict:
        return {"settings": self.settings, "wall_s": round(self.wall_s, 1), "server_rss_mb": self.memory_mb,
                "errors": self.errors, "warm_up_errors": self.warm_up.errors,
                "phases": {p.name: p.summary() for p in self.phases}}


# --- the tabs --------------------------------------------------------------------------------
async def pause(think: float, rng: random.Random) -> None:
    await asyncio.sleep(think * rng.uniform(0.5, 1.5))


async def learner(base: str, phase: Phase, idx: int, think: float, rng: random.Random) -> None:
    """One tab, one new learner: six pages, two sliders, a quiz started, thinking in between."""
    who = f"learner {idx}"
    await asyncio.sleep(rng.uniform(0, think))  # a class arrives over a think time, not at once
    try:
        async with Tab(base) as tab:
            for page in PAGES:
                phase.record(name_of(page), await tab.open(page), who)
                await pause(think, rng)
                if page in SLIDER_PAGES:
                    sliders = tab.widgets("slider")
                    if not sliders:
                        phase.errors.append(f"{who}: no slider on /{page}")
                        continue
                    phase.record(f"{name_of(page)} (slider)", await tab.nudge(sliders[0]), who)
                    await pause(think, rng)
                elif page == "quiz":
                    start = tab.widgets("button", "Start quiz")
                    if not start:
                        phase.errors.append(f"{who}: no Start quiz button")
                        continue
                    phase.record("quiz (start)", await tab.click(start[0]), who)
                    await pause(think, rng)
    except Exception as err:  # a refused connection, a closed socket, a timeout: an error of the run
        phase.errors.append(f"{who}: {type(err).__name__}: {err}")


def button(tab: Tab, label: str):
    found = [w for w in tab.widgets("button", label) if w.proto.label == label]
    return found[0] if found else None


async def trainer(base: str, phase: Phase, idx: int, steps: int, go: asyncio.Event, stop: asyncio.Event,
                  ready: list) -> None:
    """Open the lab set up by a link, press Start when all are there, keep the live panel's timer
    running (as a browser does) until ``stop``, then press Stop and close."""
    who = f"trainer {idx}"
    try:
        async with Tab(base, query=f"method=lora&steps={steps}") as tab:
            phase.record("lab", await tab.open("lab"), who)
            ready.append(idx)
            await go.wait()
            start = button(tab, "Start")
            if start is None:
                phase.errors.append(f"{who}: no Start button in the lab")
                return
            phase.record("lab (Start)", await tab.click(start), who)
            if not tab.auto_reruns:
                phase.errors.append(f"{who}: no live panel after Start (the run was not queued)")
            ready.append(idx)
            while not stop.is_set():
                if not tab.auto_reruns:  # the run has ended: nothing redraws until the learner acts
                    await stop.wait()
                    break
                fragment_id, interval = next(iter(tab.auto_reruns.items()))
                try:
                    await asyncio.wait_for(stop.wait(), interval)
                except asyncio.TimeoutError:
                    phase.record("lab (live)", await tab.auto_rerun(fragment_id), who)
            stop_button = button(tab, "Stop")
            if stop_button is None:
                phase.seen.append(f"{who}: its run had ended before Stop")
                return
            phase.record("lab (Stop)", await tab.click(stop_button), who)
            phase.seen.append(f"{who}: run active until the end, stopped")
    except Exception as err:  # a refused connection, a closed socket, a timeout: an error of the run
        phase.errors.append(f"{who}: {type(err).__name__}: {err}")
    finally:
        ready.extend([idx, idx])  # never waited for again


async def chromium_learner(browser, base: str, phase: Phase, idx: int, pages: tuple[str, ...],
                           delay: float) -> None:
    """A real browser tab: each page's title is drawn and no exception box is shown."""
    await asyncio.sleep(delay)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    try:
        for path in pages:
            t0 = time.monotonic()
            await page.goto(f"{base}/{path}", wait_until="domcontentloaded", timeout=120_000)
            title = page.locator('[data-testid="stMainBlockContainer"] h1').first
            await title.wait_for(timeout=120_000)
            await page.wait_for_function(IDLE_JS, timeout=120_000)
            seconds = time.monotonic() - t0
            phase.browser_windows.append((t0, t0 + seconds))
            boxes = page.locator('[data-testid="stException"]')
            if await boxes.count():
                phase.errors.append(f"chromium {idx} /{path}: {(await boxes.first.inner_text())[:300]}")
            phase.seen.append(f"chromium {idx}: /{path} shows {await title.inner_text()!r} after {seconds:.1f} s")
    except Exception as err:  # a timeout or a broken page is an error of the run, not a crash
        phase.errors.append(f"chromium {idx}: {type(err).__name__}: {str(err)[:300]}")
    finally:
        await context.close()


BROWSER_NICE = 10  # the checking browsers' scheduling priority, below the server's (see niced_chromium)


def niced_chromium() -> str:
    """A launcher for Chromium at nice ``BROWSER_NICE``: every process and thread it starts inherits it.

    The two checking browsers share the server's two cores only because the test has one machine;
    a class's browsers run on the learners' own. At the server's priority, measured on this box,
    they slowed the page runs that overlapped a browser loading the LoRA page (its two animations)
    to a median of 1.9 s against 0.29 s otherwise, while the browsers themselves took 28 s of page
    loads in the phase with training. Niced, they take the CPU the server leaves and still check
    what a learner sees (their load times are in the report's "seen")."""
    path = os.path.join(tempfile.mkdtemp(prefix="peft-lab-chromium-"), "chromium")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f'#!/bin/sh\nexec nice -n {BROWSER_NICE} "{CHROMIUM}" "$@"\n')
    os.chmod(path, 0o755)
    return path


# --- the run ---------------------------------------------------------------------------------
async def warm_up(base: str, proc: psutil.Process, report: Report, steps: int) -> None:
    """Fill the process-wide caches a class shares before memory 'start' is read: the imports,
    every page's cached data, the pretrained model and tokenizer, the encoded data and the shared
    head-only baseline run (trained by the server's own warm-up, else queued with a learner's first
    run), and one lab run to its end.
    Memory they take once per process is not a leak; the leak check compares the server after
    the class with the server before it, both warm."""
    phase = report.warm_up
    await learner(base, phase, 0, 0.0, random.Random(0))
    async with Tab(base, query=f"method=lora&steps={steps}", timeout_s=300) as tab:
        phase.record("lab", await tab.open("lab"), "warm-up")
        start = button(tab, "Start")
        if start is None:
            phase.errors.append("warm-up: no Start button in the lab")
            return
        phase.record("lab (Start)", await tab.click(start), "warm-up")
        deadline = time.monotonic() + 300
        while tab.auto_reruns and time.monotonic() < deadline:  # the live panel, until the run ends
            fragment_id, interval = next(iter(tab.auto_reruns.items()))
            await asyncio.sleep(interval)
            phase.record("lab (live)", await tab.auto_rerun(fragment_id), "warm-up")
        if tab.auto_reruns:
            phase.errors.append("warm-up: the lab run did not end within 300 s")
    await wait_server_idle(proc)  # the shared baseline run trains after the learner's run


async def run_phase(base: str, proc: psutil.Process, phase: Phase, sessions: int, think: float,
                    trainers: int, steps: int, browser, seed: int) -> None:
    phase.memory_mb["before"] = server_rss_mb(proc)
    peak, done = [phase.memory_mb["before"]], asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            peak.append(server_rss_mb(proc))
            await asyncio.sleep(1)

    sampler = asyncio.create_task(sample())
    t0, unix0, cpu0, own0 = time.monotonic(), time.time(), process_cpu_s(proc), time.process_time()
    go, stop, ready = asyncio.Event(), asyncio.Event(), []  # a trainer is in ``ready`` once per step done
    trains = [asyncio.create_task(trainer(base, phase, i, steps, go, stop, ready)) for i in range(trainers)]
    if trains:  # all trainers have their lab open, then press Start together; learners come after
        while any(ready.count(i) < 1 for i in range(trainers)):
            await asyncio.sleep(0.2)
        go.set()
        while any(ready.count(i) < 2 for i in range(trainers)):
            await asyncio.sleep(0.2)
    rng = random.Random(seed)
    tabs = [learner(base, phase, i, think, random.Random(rng.random())) for i in range(sessions)]
    if browser is not None:
        middle = think * 4  # while the class is busy
        tabs += [chromium_learner(browser, base, phase, 0, ("lora", "calculator"), middle),
                 chromium_learner(browser, base, phase, 1, ("", "quiz"), middle + think)]
    await asyncio.gather(*tabs)
    stop.set()
    await asyncio.gather(*trains)
    phase.wall_s = time.monotonic() - t0
    phase.server_cpu = server_cpu(PAGE_LOG, unix0, time.time(), phase.wall_s)
    phase.server_cpu["process_cpu_s_per_wall_s"] = round((process_cpu_s(proc) - cpu0) / phase.wall_s, 2)
    # the load generator's own CPU (all tabs share one asyncio thread): near 1.0 means the tabs read
    # their frames late, and the latencies above measure this process as much as the server
    phase.server_cpu["load_generator_cpu_s_per_wall_s"] = round((time.process_time() - own0) / phase.wall_s, 2)
    done.set()
    await sampler
    phase.memory_mb["peak"] = max(peak)
    phase.memory_mb.update(await settled_rss(proc, base, phase.memory_mb["before"]))


async def run_load(sessions: int = 20, think: float = 1.5, trainers: int = 5, steps: int = 30,
                   port: int | None = None, browsers: bool = True, timeout_s: float = 900,
                   seed: int = 0) -> Report:
    report = Report(settings={"sessions": sessions, "think_s": think, "trainers": trainers, "steps": steps,
                              "chromium_sessions": 2 if browsers else 0, "chromium_nice": BROWSER_NICE,
                              "cpus": os.cpu_count()})
    t0 = time.monotonic()
    # one run at a time (the CPU default, said here); the trained models held for Try it as the
    # app's defaults say (each holds only what its run changed: peft_edu.lab.train.share_unchanged);
    # the learners' store in a throwaway folder
    env = {"PEFT_LAB_MAX_RUNS": os.environ.get("PEFT_LAB_MAX_RUNS", "1"),
           "PEFT_LAB_DATA": tempfile.mkdtemp(prefix="peft-lab-load-"), "PEFT_LAB_PAGE_LOG": PAGE_LOG}
    args = ("--server.disconnectedSessionTTL", str(TTL_S))
    with running_app("streamlit-load.log", port=port, args=args, env=env) as server:
        proc = psutil.Process(server.proc.pid)
        try:
            await asyncio.wait_for(_drive(server.url, proc, report, sessions, think, trainers, steps,
                                          browsers, seed), timeout_s)
        except asyncio.TimeoutError:
            report.errors.append(f"the load test did not finish within {timeout_s:.0f} s")
    report.wall_s = time.monotonic() - t0
    return report


async def _drive(base, proc, report, sessions, think, trainers, steps, browsers, seed) -> None:
    await warm_up(base, proc, report, steps=steps)  # the same runs as the phase queues
    report.memory_mb["start"] = (await settled_rss(proc, base, None))["after"]
    browser, pw = None, None
    if browsers:
        problem = browser_problem()
        if problem:
            report.errors.append(f"no Chromium sessions: {problem}")
        else:
            from playwright.async_api import async_playwright

            pw = await async_playwright().start()
            browser = await pw.chromium.launch(executable_path=niced_chromium(), args=CHROMIUM_ARGS)
    try:
        for name, n_trainers in (("no training", 0), (f"{trainers} lab runs queued", trainers)):
            phase = Phase(name)
            report.phases.append(phase)
            await run_phase(base, proc, phase, sessions, think, n_trainers, steps, browser, seed)
    finally:
        if browser is not None:
            await browser.close()
            await pw.stop()
    report.memory_mb["after"] = report.phases[-1].memory_mb["after"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100, help="learner tabs per phase")
    parser.add_argument("--think", type=float, default=10.0, help="seconds between a learner's actions")
    parser.add_argument("--trainers", type=int, default=5, help="lab runs queued in the second phase")
    parser.add_argument("--steps", type=int, default=100, help="steps of each queued lab run")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--no-browsers", action="store_true", help="skip the two Chromium sessions")
    parser.add_argument("--timeout", type=float, default=1200, help="hard limit for the whole run (s)")
    args = parser.parse_args(argv)
    report = asyncio.run(run_load(args.sessions, args.think, args.trainers, args.steps, args.port,
                                  not args.no_browsers, args.timeout))
    print(json.dumps(report.summary(), indent=2))
    return 1 if report.all_errors() else 0


if __name__ == "__main__":
    sys.exit(main())
