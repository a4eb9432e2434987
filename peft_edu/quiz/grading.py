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
  numeric  correct when |given - answer| <= tolerance * |answer|; tolerance 0 = exact.
           Units and notations are read (1,120 GB = 1.12 TB = 1.12e3 GB; 16k; 3.5M); an
           answer that cannot be read, or has a unit of the wrong kind, is refused with the
           reason and not graded; a wrong numeric answer may be retried once (NUMERIC_TRIES)
"""
from __future__ import annotations

import csv
import io
import json
import math
import random
import re
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from peft_edu.quiz.bank import BANK_DIR, Bank, BankError, Question, Template, load_bank
from peft_edu.quiz.generate import generate

__all__ = [
    "BANK_DIR", "Bank", "BankError", "Graded", "NUMERIC_TRIES", "Question", "Quiz", "Reading",
    "Template", "TopicScore", "default_bank", "grade", "load_bank", "numeric_problem",
    "option_feedback", "option_order", "parse_number", "read_number", "record_progress",
    "results_csv", "results_json", "retry_allowed", "sample_quiz", "topic_scores", "format_number",
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
    questions: tuple[Question, ...]  # concrete questions: the bank's option order, numbers filled in


def sample_quiz(bank: Bank, topics=None, n: int = 10, seed: int | None = None) -> Quiz:
    """Draw up to ``n`` questions spread evenly over ``topics`` (all topics when None).

    Topics take turns (round robin over a shuffled order) so a short quiz still covers
    many topics; the question order is shuffled. The same seed gives the same quiz; a new
    seed gives new questions, orders and generated numbers. Options keep the bank's order
    (and indices, which grading uses); ``option_order(question, seed)`` shuffles how an
    attempt shows them.
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
    return generate(entry, rng) if isinstance(entry, Template) else entry


# --- grading ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Graded:
    question: Question
    correct: bool
    given: str  # the learner's answer as text ("" when nothing was given)
    expected: str  # the correct answer as text
    note: str = ""  # why an entry could not be graded as given (e.g. not a number)
    chosen: tuple[int, ...] = ()  # choice questions: the ticked options' indices in the bank's order
    tries: int = 1  # numeric questions: 2 when graded after a numeric slip (see NUMERIC_TRIES)


NUMERIC_TRIES = 2  # a wrong (but readable) numeric answer may be retried once, then it locks


def option_order(question: Question, seed: int) -> tuple[int, ...]:
    """The order to show a choice question's options in one attempt: a permutation of the
    bank's indices, the same for the same ``seed`` (so a rerun does not reshuffle) and
    different between attempts. Grading always uses the bank's indices."""
    order = list(range(len(question.options)))
    random.Random(f"{seed}:{question.id}").shuffle(order)
    return tuple(order)


def option_feedback(graded: Graded) -> list[tuple[int, bool, bool]]:
    """(option index, is a correct option, was ticked) for each option of a choice question."""
    q = graded.question
    return [(i, i in q.correct, i in graded.chosen) for i in range(len(q.options))]


def retry_allowed(graded: Graded) -> bool:
    """True for a wrong numeric answer that was read and has a try left (a "numeric slip")."""
    return (graded.question.kind == "numeric" and not graded.correct and not graded.note
            and graded.tries < NUMERIC_TRIES)


# --- reading numbers with units -----------------------------------------------------------
@dataclass(frozen=True)
class Reading:
    value: float | None  # the answer in the question's unit; None when it cannot be read
    problem: str = ""  # why not: shown to the learner, the answer is not graded


_SEPARATORS = ",  _'\u00a0\u2009\u202f"  # thousands separators people type
_NUMBER = re.compile(
    r"^(?P<sign>[+-]?)(?P<int>\d{1,3}(?:[%s]\d{3})+|\d*)(?P<frac>\.\d*)?"
    r"(?:[eE](?P<exp>[+-]?\d+))?"
    r"(?:\s*[x×*·]\s*10\s*\^\s*(?P<pow>[+-]?\d+))?(?P<rest>.*)$" % re.escape(_SEPARATORS),
    re.S)
_APPROX = re.compile(r"^(?:~|≈|about|approx\.?|approximately|around|roughly|circa|ca\.)\s*", re.I)
# magnitude words after the number (case matters for the one-letter ones: m = million, M too)
_MULTIPLIERS = {
    "k": 10**3, "K": 10**3, "thousand": 10**3,
    "M": 10**6, "m": 10**6, "mn": 10**6, "mio": 10**6, "million": 10**6, "millions": 10**6,
    "B": 10**9, "b": 10**9, "bn": 10**9, "billion": 10**9, "billions": 10**9,
    "T": 10**12, "trillion": 10**12,
}
_BYTES = {  # unit (lower case) -> bytes
    "b": 1, "byte": 1, "bytes": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
    "kilobytes": 10**3, "megabytes": 10**6, "gigabytes": 10**9, "terabytes": 10**12,
}
_COUNT_WORDS = {"parameter", "parameters", "param", "params", "weight", "weights", "value", "values",
                "example", "examples", "tensor", "tensors", "token", "tokens", "layer", "layers",
                "step", "steps", "gpu", "gpus", "rank"}
_SYNONYMS = {"parameters": {"parameter", "parameters", "param", "params", "weights"}}
_PERCENT = {"%", "percent", "per cent", "pct"}
_BITS = {"bit", "bits", "bits per weight", "bit per weight", "bits/weight", "bpw"}
_FACTOR = {"x", "×", "times", "fold", "-fold"}


def _family(unit: str) -> tuple[str, set[str], float]:
    """(kind, accepted unit words, the question unit's size in base units) of a question unit."""
    u = unit.strip().lower()
    if u in _BYTES:
        return "bytes", set(_BYTES), _BYTES[u]
    if u in _PERCENT:
        return "percent", _PERCENT, 1
    if u in _BITS:
        return "bits", _BITS, 1
    if u in ("", "(factor)", "factor"):
        return "factor", _FACTOR, 1
    words = _SYNONYMS.get(u, {u, u.rstrip("s")})
    return "count", words, 1


_KIND_NAMES = {"bytes": "a memory size", "percent": "a percentage", "bits": "a number of bits",
               "count": "a count", "factor": "a plain factor"}
_KIND_WORDS = {"bytes": set(_BYTES), "count": _COUNT_WORDS, "percent": _PERCENT, "bits": _BITS}


def _split_unit(rest: str, words: set[str]) -> tuple[int, str] | None:
    """(multiplier, unit word) when ``rest`` is [multiplier] [unit word]; None otherwise."""
    if rest == "" or rest.lower() in words:
        return 1, rest.lower()
    for word, factor in sorted(_MULTIPLIERS.items(), key=lambda kv: -len(kv[0])):
        if rest.startswith(word):
            tail = rest[len(word):].strip().lower()
            if tail == "" or tail in words:
                return factor, tail
    return None


def read_number(text, unit: str = "") -> Reading:
    """Read a learner's numeric answer to a question whose unit is ``unit`` ("GB", "parameters").

    Accepts thousands separators (1,120 · 1 120 · 1_120), a decimal point, exponents (1.12e3,
    1.12 × 10^3), magnitudes (16k, 3.5M, 7B or 2 million for counts) and units (1.12 TB or
    1,120 GB for a GB question, 8,000 parameters), converted to ``unit``. Refuses, with the
    reason, what it cannot read, a decimal comma, and a unit of the wrong kind (GB for a count).
    """
    if isinstance(text, bool):
        return Reading(None, "not a number")
    if isinstance(text, (int, float)):
        value = float(text)
        return Reading(value) if math.isfinite(value) else Reading(None, "not a finite number")
    raw = str(text or "").strip()
    if not raw:
        return Reading(None, "no answer given")
    shown = raw[:40]
    m = _NUMBER.match(_APPROX.sub("", raw).rstrip(". "))
    if not m or not (m["int"] or (m["frac"] or "")[1:]):
        return Reading(None, f"could not read {shown!r} as a number: write digits, e.g. 1,120 or 1.12e3 or 16k")
    rest = m["rest"].strip()
    if re.match(r"^,?\d", rest):
        return Reading(None, f"could not read {shown!r}: use a point for decimals (1.12) and commas only "
                             "between groups of three digits (1,120)")
    number = Decimal(m["sign"] + (re.sub("[%s]" % re.escape(_SEPARATORS), "", m["int"]) or "0")
                     + (m["frac"] or "").rstrip(".") + (f"e{m['exp']}" if m["exp"] else ""))
    if m["pow"]:
        number *= Decimal(10) ** int(m["pow"])
    kind, words, size = _family(unit)
    split = _split_unit(rest, words)
    if split is not None and (split[0] == 1 or kind in ("count", "factor", "bytes")):
        factor, tail = split
        if kind == "bytes" and factor != 1 and not tail:
            return Reading(None, f"{shown!r}: write the unit too, e.g. 1,120 {unit} or 1.12 TB")
        unit_size = _BYTES[tail] if kind == "bytes" and tail else size
        value = float(number * factor * unit_size / Decimal(size))
        return Reading(value) if math.isfinite(value) else Reading(None, "not a finite number")
    want = f"{unit}" if unit and unit != "(factor)" else "a plain number"
    for other, other_words in _KIND_WORDS.items():
        other_words = other_words - words
        found = _split_unit(rest, other_words) if rest else None
        if found is not None and found[1]:
            what = f"counts {found[1]}" if other == kind else f"is {_KIND_NAMES[other]}"
            return Reading(None, f"{shown!r} {what}, but this question asks for {want}")
    return Reading(None, f"could not read {shown!r}: after the number write nothing, a magnitude "
                         f"(k, M) or the unit ({want})")


def parse_number(text) -> float | None:
    """'294,912' / '294 912' / '2.5e3' / '16k' / 0.5 -> float; None when it is not a number."""
    return read_number(text).value


def format_number(x: float) -> str:
    """Integers with thousands separators, other numbers with up to 6 significant digits."""
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.6g}"


def numeric_problem(question: Question, response) -> str:
    """Why a numeric answer cannot be graded as given ("" when it can be read)."""
    return read_number(response, question.unit).problem if question.kind == "numeric" else ""


def grade(question: Question, response, tries: int = 1) -> Graded:
    """Grade one response: an option index (single), indices (multi) or text/number (numeric).

    ``tries`` counts the attempts at a numeric question (2 after a numeric slip)."""
    if question.kind == "numeric":
        return replace(_grade_numeric(question, response), tries=tries)
    expected = "; ".join(question.options[i] for i in sorted(question.correct))
    chosen = _chosen_indices(question, response)
    given = "; ".join(question.options[i] for i in sorted(chosen))
    return Graded(question, chosen == question.correct, given, expected, chosen=tuple(sorted(chosen)))


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
    reading = read_number(response, question.unit)
    if reading.value is None:
        text = "" if response is None else str(response).strip()
        return Graded(question, False, text, expected, reading.problem)
    value = reading.value
    slack = max(question.tolerance, 1e-9) * abs(question.answer)  # 1e-9: float noise of unit conversion
    ok = abs(value - question.answer) <= slack
    return Graded(question, ok, format_number(value) + unit, expected)


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
