"""Deciding whether to fine-tune: the worked example of the "Deciding" page, from real data.

The lab's shipped data set ("Did City win?", ``assets/data/match_results_*.csv``) and the
recorded live-lab runs (``assets/data/baseline_runs.json``, written by
``scripts/measure_baselines.py``; see ``peft_edu.lessons.baselines``) answer the questions to
ask before fine-tuning: how much labelled data is there, is it clean and balanced, what does
the base model reach without fine-tuning (the head-only baseline), how far can fine-tuning
go, and how many test examples it takes to tell the two apart.

Light on purpose (csv and json only, no torch): the page loads instantly.
"""
from __future__ import annotations

import csv
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[2] / "assets" / "data"
Z95 = 1.96  # two-sided 95 % normal quantile


@dataclass(frozen=True)
class DecidingExample:
    n_train: int  # labelled training examples
    n_test: int  # held-out labelled examples
    train_counts: dict[str, int]  # label -> examples in the training split
    test_counts: dict[str, int]  # label -> examples in the test split
    conflicts: int  # texts that occur with two different labels (label noise made visible)
    leaked: int  # test texts that also occur in the training split
    model: str  # the base model of the recorded runs
    baseline: float  # test accuracy of the head-only baseline (encoder frozen), in [0, 1]
    baseline_steps: int  # its optimizer steps
    best_method: str  # registry key of the best recorded fine-tuning run
    best: float  # its test accuracy
    best_trainable: int  # its trainable parameters (without the head)
    best_share: float  # of the encoder's parameters, in percent

    @property
    def chance(self) -> float:
        """What always answering the most frequent test label scores."""
        return max(self.test_counts.values()) / self.n_test

    @property
    def margin(self) -> float:
        """95 % half-width of the baseline's accuracy measured on n_test examples."""
        return margin(self.baseline, self.n_test)

    @property
    def gain_points(self) -> float:
        """What fine-tuning added over the baseline, in percentage points."""
        return 100.0 * (self.best - self.baseline)

    @property
    def points_per_label(self) -> float:
        """How much one wrong test label moves the measured accuracy, in percentage points."""
        return 100.0 / self.n_test


def margin(accuracy: float, n: int) -> float:
    """95 % half-width of an accuracy measured on ``n`` examples (normal approximation)."""
    return Z95 * math.sqrt(accuracy * (1.0 - accuracy) / n)


def examples_needed(half_width: float, accuracy: float = 0.5) -> int:
    """Test examples needed to measure ``accuracy`` within ±``half_width`` (95 %)."""
    return math.ceil(Z95 ** 2 * accuracy * (1.0 - accuracy) / half_width ** 2)


def _rows(path: Path) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return [(row["text"], row["label"]) for row in csv.DictReader(f)]


def deciding_example(data_dir: Path = DATA_DIR) -> DecidingExample:
    """The worked example: the shipped data set's size, balance and cleanliness, and the
    recorded head-only baseline against the best recorded fine-tuning run."""
    train = _rows(data_dir / "match_results_train.csv")
    test = _rows(data_dir / "match_results_test.csv")
    labels: dict[str, set[str]] = {}
    for text, label in train + test:
        labels.setdefault(" ".join(text.lower().split()), set()).add(label)
    seen = {" ".join(text.lower().split()) for text, _ in train}
    record = json.loads((data_dir / "baseline_runs.json").read_text(encoding="utf-8"))
    runs = record["runs"]
    head = next(r for r in runs if r["method"] == "head_only")
    best = max((r for r in runs if r["method"] != "head_only"), key=lambda r: r["accuracy"])
    return DecidingExample(
        n_train=len(train), n_test=len(test),
        train_counts=dict(sorted(Counter(label for _, label in train).items())),
        test_counts=dict(sorted(Counter(label for _, label in test).items())),
        conflicts=sum(len(v) > 1 for v in labels.values()),
        leaked=sum(" ".join(text.lower().split()) in seen for text, _ in test),
        model=record["model"], baseline=head["accuracy"], baseline_steps=head["steps"],
        best_method=best["method"], best=best["accuracy"], best_trainable=best["trainable"],
        best_share=100.0 * best["trainable"] / best["total"],
    )
