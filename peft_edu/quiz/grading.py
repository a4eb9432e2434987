"""Quizzes: the question bank (TOML under assets/quiz/), sampling by seed, grading, scores.

The bank is plain data a teacher can edit:
  assets/quiz/topics.toml        the general (non-method) topics: title and covering page
  assets/quiz/questions/*.toml   ``[[question]]`` tables: single, multi and numeric kinds
  assets/quiz/generated.toml     ``[[template]]`` tables: numeric questions whose sizes are
                                 drawn at random and whose answers come from peft_edu's own
                                 formulas (see ``peft_edu.quiz.generate``), so no retake repeats

Grading rules (the quiz page shows them to the learner):
  single   correct when the chosen option is the one correct option
  multi    all-or-nothing: correct when the ticked options are exactly the correct ones
  numeric  correct when |given - answer| <= tolerance * |answer|; tolerance 0 = exact
"""
from __future__ import annotations

import csv
import io
import json
import math
import random
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from peft_edu.quiz.bank import BANK_DIR, Bank, BankError, Question, Template, load_bank
from peft_edu.quiz.generate import generate

__all__ = [
    "BANK_DIR", "Bank", "BankError", "Graded", "Question", "Quiz", "Template", "TopicScore",
    "default_bank", "grade", "load_bank", "parse_number", "record_progress", "results_csv",
    "results_json", "sample_quiz", "topic_scores", "format_number",
]


@lru_cache(maxsize=1)
def default_bank() -> Bank:
    """The shipped bank, loaded and validated once (immutable, safe to share)."""
    return load_bank(BANK_DIR)


# --- sampling ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Quiz:
    seed: int  # the seed that reproduces this exact quiz
    topics: tuple[str, ...]  # topics it was drawn from
    questions: tuple[Question, ...]  # concrete questions: options shuffled, numbers filled in


def sample_quiz(bank: Bank, topics=None, n: int = 10, seed: int | None = None) -> Quiz:
    """Draw up to ``n`` questions spread evenly over ``topics`` (all topics when None).

    Topics take turns (round robin over a shuffled order) so a short quiz still covers
    many topics; the final order and every option order are shuffled. The same seed
    gives the same quiz; a new seed gives new questions, orders and generated numbers.
    """
    if n < 1:
        raise ValueError(f"a quiz needs at least 1 question, got n={n}")
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    topics = tuple(bank.topics) if not topics else tuple(topics)
    unknown = [t for t in topics if t not in bank.topics]
    if unknown:
        raise ValueError(f"unknown topic(s) {unknown}; choose from: {', '.join(bank.topics)}")
    rng = random.Random(seed)
    picked = _round_robin(bank, topics, n, rng)
    questions = [_instantiate(entry, rng) for entry in picked]
    rng.shuffle(questions)
    return Quiz(seed=seed, topics=topics, questions=tuple(questions))


def _round_robin(bank: Bank, topics: tuple[str, ...], n: int, rng: random.Random) -> list:
    pools = []
    for topic in topics:
        pool = list(bank.entries_for(topic))
        rng.shuffle(pool)
        pools.append(pool)
    rng.shuffle(pools)
    picked: list = []
    while len(picked) < n and any(pools):
        for pool in pools:
            if pool and len(picked) < n:
                picked.append(pool.pop())
    return picked


def _instantiate(entry: Question | Template, rng: random.Random) -> Question:
    if isinstance(entry, Template):
        return generate(entry, rng)
    if entry.kind == "numeric":
        return entry
    order = list(range(len(entry.options)))
    rng.shuffle(order)
    options = tuple(entry.options[i] for i in order)
    correct = frozenset(order.index(i) for i in entry.correct)
    return replace(entry, options=options, correct=correct)


# --- grading ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Graded:
    question: Question
    correct: bool
    given: str  # the learner's answer as text ("" when nothing was given)
    expected: str  # the correct answer as text
    note: str = ""  # why an entry could not be graded as given (e.g. not a number)


_NUMBER_JUNK = re.compile(r"[,\s_'\u2009\u202f]")  # thousands separators people type


def parse_number(text) -> float | None:
    """'294,912' / '294 912' / '2.5e3' / 0.5 -> float; None when it is not a finite number."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        try:
            value = float(_NUMBER_JUNK.sub("", str(text or "")))
        except ValueError:
            return None
    return value if math.isfinite(value) else None


def format_number(x: float) -> str:
    """Integers with thousands separators, other numbers with up to 6 significant digits."""
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.6g}"


def grade(question: Question, response) -> Graded:
    """Grade one response: an option index (single), indices (multi) or text/number (numeric)."""
    if question.kind == "numeric":
        return _grade_numeric(question, response)
    expected = "; ".join(question.options[i] for i in sorted(question.correct))
    chosen = _chosen_indices(question, response)
    given = "; ".join(question.options[i] for i in sorted(chosen))
    return Graded(question, chosen == question.correct, given, expected)


def _chosen_indices(question: Question, response) -> frozenset[int]:
    if response is None:
        return frozenset()
    indices = [response] if isinstance(response, int) else list(response)
    bad = [i for i in indices if not (isinstance(i, int) and 0 <= i < len(question.options))]
    if bad:
        raise ValueError(f"option index {bad[0]!r} out of range 0..{len(question.options) - 1}")
    if question.kind == "single" and len(indices) > 1:
        raise ValueError("a single-choice question takes exactly one option")
    return frozenset(indices)


def _grade_numeric(question: Question, response) -> Graded:
    unit = f" {question.unit}" if question.unit else ""
    expected = format_number(question.answer) + unit
    if question.tolerance:
        expected += f" (within ±{question.tolerance:.0%})"
    value = parse_number(response)
    if value is None:
        text = "" if response is None else str(response).strip()
        note = "no answer given" if not text else f"could not read {text[:40]!r} as a number"
        return Graded(question, False, text, expected, note)
    ok = abs(value - question.answer) <= question.tolerance * abs(question.answer)
    return Graded(question, ok, format_number(value), expected)


# --- scores, progress and export ----------------------------------------------------------
@dataclass(frozen=True)
class TopicScore:
    topic: str  # topic key
    title: str  # display name
    answered: int  # questions graded
    correct: int  # of which correct

    @property
    def percent(self) -> float:
        return 100.0 * self.correct / self.answered if self.answered else 0.0


def topic_scores(bank: Bank, graded) -> list[TopicScore]:
    """Per-topic tallies, in the bank's topic order, for the topics that were asked."""
    tally: dict[str, list[int]] = {}
    for g in graded:
        counts = tally.setdefault(g.question.topic, [0, 0])
        counts[0] += 1
        counts[1] += int(g.correct)
    return [TopicScore(t, bank.topics[t], *tally[t]) for t in bank.topics if t in tally]


def record_progress(progress: dict, graded: Graded) -> dict:
    """A new {topic: [answered, correct]} mapping with one more graded answer counted."""
    new = {topic: list(counts) for topic, counts in progress.items()}
    counts = new.setdefault(graded.question.topic, [0, 0])
    counts[0] += 1
    counts[1] += int(graded.correct)
    return new


_FIELDS = ("number", "id", "topic", "kind", "difficulty", "prompt", "your_answer",
           "correct_answer", "result", "explanation", "page")


def _rows(graded) -> list[dict]:
    return [
        {"number": i, "id": g.question.id, "topic": g.question.topic, "kind": g.question.kind,
         "difficulty": g.question.difficulty, "prompt": g.question.prompt, "your_answer": g.given,
         "correct_answer": g.expected, "result": "correct" if g.correct else "wrong",
         "explanation": g.question.explanation, "page": g.question.page}
        for i, g in enumerate(graded, start=1)
    ]


def _csv_safe(value):
    """Spreadsheets run cells that start with = + - @ as formulas: neutralise those."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def results_csv(graded) -> str:
    """One row per answered question, ready for a spreadsheet."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in _rows(graded):
        writer.writerow({k: _csv_safe(v) for k, v in row.items()})
    return out.getvalue()


def results_json(bank: Bank, graded, seed: int | None = None) -> str:
    """The answers, the total and the per-topic scores as one JSON document."""
    graded = list(graded)
    doc = {
        "seed": seed,
        "score": {"correct": sum(g.correct for g in graded), "answered": len(graded)},
        "topics": [
            {"topic": s.topic, "title": s.title, "answered": s.answered, "correct": s.correct}
            for s in topic_scores(bank, graded)
        ],
        "questions": _rows(graded),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)
