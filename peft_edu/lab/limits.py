"""Fair shares of the lab's one queue: the teacher's per-learner limits and the expected wait.

Pure rules and arithmetic (no threads, no jobs); ``peft_edu.lab.jobs`` applies them to the runs
it queues on behalf of a learner (``submit(..., learner=...)``).

- An *entry* is one run, or one race: several runs submitted together under one race id, at
  most ``max_race`` of them. A learner has at most ``runs_per_learner`` entries queued or
  training at a time (a run whose Stop was pressed no longer counts: it ends after its step).
- No run of a learner is longer than ``max_steps`` steps.
- A learner with no open tab for ``abandoned_s`` seconds has their runs stopped (queued ones
  cancelled); their results so far are kept like those of any stopped run.

The teacher sets them in the environment (``ENV``); a bad value is logged and the default used.
"""
from __future__ import annotations

import dataclasses
import functools
import heapq
import logging
import math
import os
from dataclasses import dataclass

log = logging.getLogger(__name__)


class LimitError(ValueError):
    """A run the teacher's limits do not allow now; the message is written for the learner."""


@dataclass(frozen=True)
class Limits:
    runs_per_learner: int = 1  # entries (a run, or a race) queued or training per learner at once
    max_race: int = 4  # runs in one race
    max_steps: int = 500  # optimizer steps of one run
    abandoned_s: float = 60.0  # seconds with no open tab before a learner's runs stop; 0 = never


ENV = {"runs_per_learner": "PEFT_LAB_RUNS_PER_LEARNER", "max_race": "PEFT_LAB_MAX_RACE",
       "max_steps": "PEFT_LAB_MAX_STEPS", "abandoned_s": "PEFT_LAB_ABANDONED_S"}


def _parse(raw: str, kind: type):
    """A whole number >= 1 (counts), a finite number >= 0 (seconds); None if it is neither."""
    if kind is int:
        return int(raw) if raw.isdigit() and int(raw) >= 1 else None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def from_env(environ=None) -> Limits:
    """The limits the teacher set (``ENV``); a missing value is the default, a bad one is logged."""
    environ = os.environ if environ is None else environ
    return _from_raw(tuple(environ.get(ENV[f.name], "").strip() for f in dataclasses.fields(Limits)))


@functools.lru_cache(maxsize=16)  # read on every page run and submit: parse (and complain) once
def _from_raw(raws: tuple[str, ...]) -> Limits:
    values = {}
    for field, raw in zip(dataclasses.fields(Limits), raws):
        name = ENV[field.name]
        if not raw:
            continue
        value = _parse(raw, type(field.default))
        if value is None:
            log.warning("%s=%r is not a valid setting; using the default %s", name, raw, field.default)
        else:
            values[field.name] = value
    return Limits(**values)


# ---------------------------------------------------------------- the rules
@dataclass(frozen=True)
class Entry:
    """One run of a learner that is queued or training (as the refusal names it)."""

    label: str  # "LoRA r=8 alpha=16"
    race: str | None  # the race id it belongs to, None for a single run
    place: int | None  # 1-based queue place; None while training


def check_steps(limits: Limits, steps: int | None) -> None:
    if steps is not None and steps > limits.max_steps:
        raise LimitError(f"{steps:,} steps is more than this class allows: your teacher set at most "
                         f"{limits.max_steps:,} steps per run. Choose {limits.max_steps:,} or fewer.")


def check_race(limits: Limits, size: int) -> None:
    """A race of ``size`` runs in all."""
    if size > limits.max_race:
        raise LimitError(f"A race of {size} runs is more than this class allows: your teacher set at "
                         f"most {limits.max_race} runs per race. Leave out {size - limits.max_race} of them.")


def _where(entry: Entry) -> str:
    return "training" if entry.place is None else f"place {entry.place:,} in the queue"


def check_new_entry(limits: Limits, active: list[Entry]) -> None:
    """One more entry for a learner whose queued or training runs are ``active``."""
    groups: dict[str, list[Entry]] = {}
    for i, entry in enumerate(active):
        groups.setdefault(entry.race or f"run-{i}", []).append(entry)
    if len(groups) < limits.runs_per_learner:
        return
    named = "; ".join(_describe(g) for g in groups.values())
    if len(groups) > 1:
        what = "runs"
    else:
        what = "a race" if active[0].race else "a run"
    allowed = "1 at a time" if limits.runs_per_learner == 1 else f"{limits.runs_per_learner} at a time"
    raise LimitError(f"You already have {what} queued or training ({named}). Stop it or wait for it to "
                     f"finish; your teacher allows {allowed} (a race counts as one).")


def _describe(group: list[Entry]) -> str:
    if len(group) == 1 and group[0].race is None:
        return f"{group[0].label}, {_where(group[0])}"
    return f"a race of {len(group)}: " + ", ".join(f"{e.label} ({_where(e)})" for e in group)


# ---------------------------------------------------------------- the expected wait
def expected_wait(left_s: list[float], ahead_s: list[float], slots: int) -> float:
    """Seconds until the job behind ``ahead_s`` starts.

    ``left_s``: seconds each running job has left; ``ahead_s``: expected durations of the jobs
    queued ahead, first = next; ``slots``: runs allowed at once. First come, first served, as
    the queue itself: each job ahead takes the slot that frees first (list scheduling)."""
    times = sorted(max(0.0, t) for t in left_s)
    if len(times) >= slots:
        free = times[len(times) - slots:]  # with more running than slots, the first ones free none
    else:
        free = [0.0] * (slots - len(times)) + times
    heapq.heapify(free)
    for duration in ahead_s:
        heapq.heappush(free, heapq.heappop(free) + max(0.0, duration))
    return free[0]
