"""A lab race's finished runs as the points of a Pareto chart: test accuracy against one cost.

The same front as the Compare page's race (``peft_edu.lessons.compare.pareto_front``): a run is
on it when no other run of the race is cheaper and at least as accurate. The costs, all read
from the run's ``TrainResult`` as the results table shows them:

- ``trainable``: trainable parameters (the classifier head included: every lab run trains it);
- ``memory``: the run's own tensors at their peak — weights, gradients, optimizer state and the
  activations autograd saved (``TrainResult.memory``, see ``peft_edu.lab.run_memory``);
- ``time``: the run's wall seconds (``TrainResult.seconds``: copy, train, evaluate);
- ``forgetting``: the drift of its sentence embeddings on general text (``peft_edu.lab.drift``).

Plain data in, plain data out: ``ui/lab/pareto.py`` draws it, ``peft_edu.viz.compare`` builds the figure.
"""
from __future__ import annotations

from peft_edu.lessons.compare import pareto_front

AXES = {  # cost key -> (x-axis title with its unit, log scale?)
    "trainable": ("trainable parameters, classifier head included (log scale)", True),
    "memory": ("the run's own memory: weights + gradients + optimizer state + saved activations (MB)", False),
    "time": ("wall time of the run: copy, train, evaluate (seconds)", False),
    "forgetting": ("embedding drift on general text: 1 − mean cosine to the base model (0 = unchanged)", False),
}
COST_NAMES = {"trainable": "trainable parameters", "memory": "memory", "time": "time", "forgetting": "forgetting"}


def own_memory(result) -> int:
    """Bytes of the run's own tensors at their peak: weights, gradients, optimizer state, saved activations."""
    m = result.memory or {}
    return sum(m.get(k, 0) for k in ("weights", "gradients", "optimizer", "activations"))


def cost(result, axis: str) -> float | None:
    """The run's cost on ``axis`` in the axis's unit; None when it was not measured (an old run's drift)."""
    if axis == "trainable":
        return float(result.trainable)
    if axis == "memory":
        return own_memory(result) / 1e6 if own_memory(result) else None
    if axis == "time":
        return float(result.seconds)
    if axis == "forgetting":
        return result.drift
    raise ValueError(f"unknown cost axis {axis!r}; one of {', '.join(AXES)}")


def points(results: dict[str, object], axis: str) -> dict[str, tuple[float, float]]:
    """run id -> (cost, test accuracy) for every run with both numbers."""
    out = {}
    for run_id, result in results.items():
        c = cost(result, axis)
        if c is not None and result.test_accuracy is not None:
            out[run_id] = (c, result.test_accuracy)
    return out


def front(pts: dict[str, tuple[float, float]]) -> list[str]:
    """The run ids on the Pareto front, cheapest first (the Compare race's rule)."""
    return pareto_front(pts)


def finished_races(saved: list) -> dict[str, list]:
    """race id -> its runs that finished every step with a test accuracy (``SavedRun``s, oldest
    first), for the races with at least two such runs; the newest race first."""
    races: dict[str, list] = {}
    for run in saved:
        if run.race and run.status == "done" and run.result.get("test_accuracy") is not None:
            races.setdefault(run.race, []).append(run)
    chartable = {race: runs for race, runs in races.items() if len(runs) >= 2}
    return dict(sorted(chartable.items(), key=lambda item: item[1][0].created_at, reverse=True))
