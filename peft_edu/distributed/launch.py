"""Launch a real distributed run: N worker processes on 127.0.0.1, watched until they end.

``run(spec, on_metrics, should_stop, on_start)`` has the shape of a job-queue task
(``peft_edu.lab.jobs.submit_task``): it starts one ``python -m peft_edu.distributed.worker``
per rank in its own process group, reads their JSON lines, reports rank 0's steps, and
returns a ``DistResult``. Whatever happens — the run ends, the learner stops it, a worker
fails, gloo cannot start, the caller raises — every worker is terminated and reaped in
``finally``, so no process outlives the run.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from peft_edu.distributed.spec import DistResult, DistStep, RunSpec

ROOT = Path(__file__).resolve().parents[2]  # the project root: workers run `-m peft_edu...` from here
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on the loopback interface right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def worker_env() -> dict[str, str]:
    """The workers' environment: loopback only, one BLAS pool per rank, no hub access."""
    env = dict(os.environ)
    env.update({"GLOO_SOCKET_IFNAME": "lo", "NCCL_SOCKET_IFNAME": "lo", "MASTER_ADDR": LOOPBACK,
                "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)})
    return env


def start_workers(spec: RunSpec, port: int) -> tuple[list[subprocess.Popen], list]:
    """One process per rank, each the leader of its own process group (killed as a group)."""
    procs, logs = [], []
    for rank in range(spec.world_size):
        log = tempfile.TemporaryFile(mode="w+")  # stderr: its tail explains a failure
        cmd = [sys.executable, "-m", "peft_edu.distributed.worker", "--rank", str(rank), "--port", str(port),
               "--spec", spec.to_json()]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=worker_env(), stdout=subprocess.PIPE, stderr=log,
                                      text=True, start_new_session=True))
        logs.append(log)
    return procs, logs


def read_lines(proc: subprocess.Popen, events: queue.Queue) -> None:
    """Forward a worker's JSON lines into ``events`` (other lines are ignored)."""
    for line in proc.stdout:
        try:
            events.put(json.loads(line))
        except json.JSONDecodeError:
            continue


def stop_workers(procs: list[subprocess.Popen], grace_s: float = 5.0) -> None:
    """SIGTERM every worker's process group, SIGKILL what is left after ``grace_s``, reap all."""
    for p in procs:
        _signal_group(p, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(p, signal.SIGKILL)
            p.wait()


def _signal_group(p: subprocess.Popen, sig: int) -> None:
    if p.poll() is None:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:  # it ended meanwhile
            pass


def _tail(log) -> str:
    log.seek(0)
    lines = [x for x in log.read().strip().splitlines() if x.strip()]
    return lines[-1][:400] if lines else ""


def run(spec: RunSpec, on_metrics: Callable[[DistStep], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False, on_start: Callable | None = None,
        timeout_s: float = 300.0) -> DistResult:
    """Run ``spec`` on ``spec.world_size`` local processes; returns when all have ended."""
    spec.check()
    start = time.perf_counter()
    procs, logs = start_workers(spec, free_port())
    result = DistResult("failed", "", spec, pids=[p.pid for p in procs])
    try:
        _watch(procs, logs, result, on_metrics or (lambda _: None), should_stop, on_start, start + timeout_s)
    finally:
        stop_workers(procs)
        for log in logs:
            log.close()
        result.wall_s = time.perf_counter() - start
    return result


def _watch(procs, logs, result: DistResult, on_metrics, should_stop, on_start, deadline: float) -> None:
    """Read the workers' events until every one has exited, or stop them; fills ``result``."""
    events: queue.Queue = queue.Queue()
    for p in procs:
        threading.Thread(target=read_lines, args=(p, events), daemon=True).start()
    while True:
        _drain(events, result, on_metrics, on_start)
        if result.status == "error":
            return _failed(result, result.message)
        if should_stop():
            result.status, result.message = "stopped", "Stopped: every worker process was ended."
            return
        if time.perf_counter() > deadline:
            return _failed(result, "The run took too long and was ended.")
        codes = [p.poll() for p in procs]
        if any(c not in (None, 0) for c in codes):
            time.sleep(0.3)  # let its last lines arrive
            _drain(events, result, on_metrics, on_start)
            bad = next(i for i, c in enumerate(codes) if c not in (None, 0))
            return _failed(result, result.message or f"Worker {bad} failed: {_tail(logs[bad]) or 'no message'}")
        if all(c == 0 for c in codes):
            time.sleep(0.1)
            _drain(events, result, on_metrics, on_start)
            _finished(result)
            return
        time.sleep(0.1)


def _drain(events: queue.Queue, result: DistResult, on_metrics, on_start) -> None:
    while True:
        try:
            event = events.get_nowait()
        except queue.Empty:
            return
        kind = event.pop("event", "")
        if kind == "error":
            result.status, result.message = "error", event.get("message", "a worker failed")
        elif kind == "ready" and not result.backend:
            result.backend = event["backend"]
        elif kind == "step":
            step = DistStep(**event)
            result.steps.append(step)
            on_metrics(step)
        elif kind == "result":
            result.ranks.append(event)
            if on_start is not None and len(result.ranks) == 1:
                on_start(event["trainable"], event["total"], result.backend or "cpu")


def _failed(result: DistResult, message: str) -> None:
    hint = " (gloo needs the loopback interface 127.0.0.1 and a free local port)" \
        if "could not start" in message else ""
    result.status, result.message = "failed", message + hint


def _finished(result: DistResult) -> None:
    result.ranks.sort(key=lambda r: r["rank"])
    if len(result.ranks) != result.spec.world_size:
        return _failed(result, f"only {len(result.ranks)} of {result.spec.world_size} workers reported")
    result.status = "done"
    result.message = f"{result.spec.world_size} processes on {result.backend}, {len(result.steps)} steps."
