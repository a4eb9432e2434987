"""Grading rules, sampling by seed, per-topic scores and the result exports of peft_edu.quiz."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import pytest

from peft_edu.quiz import (
    NUMERIC_TRIES, Question, default_bank, grade, numeric_problem, option_feedback, option_order,
    parse_number, read_number, record_progress, results_csv, results_json, retry_allowed,
    sample_quiz, topic_scores,
)

BANK = default_bank()
SINGLE = Question("s", "lora", "single", "easy", "Pick B", ("A", "B", "C"), frozenset({1}), None,
                  0.0, "", "B is right because of reasons.", "lora")
MULTI = replace(SINGLE, id="m", kind="multi", prompt="Pick A and C", correct=frozenset({0, 2}))
EXACT = Question("n", "lora", "numeric", "easy", "How many?", (), frozenset(), 294912, 0.0,
                 "parameters", "12 × 2 × 12,288.", "lora")
TOLERANT = replace(EXACT, id="t", answer=112.0, tolerance=0.02, unit="GB")


def test_single_choice():
    assert grade(SINGLE, 1).correct
    assert not grade(SINGLE, 0).correct
    g = grade(SINGLE, None)
    assert not g.correct and g.given == "" and g.expected == "B"
    with pytest.raises(ValueError, match="out of range"):
        grade(SINGLE, 3)
    with pytest.raises(ValueError, match="exactly one"):
        grade(SINGLE, [0, 1])


def test_multi_select_is_all_or_nothing():
    assert grade(MULTI, [0, 2]).correct
    assert grade(MULTI, (2, 0)).correct
    assert not grade(MULTI, [0]).correct  # a subset is not enough
    assert not grade(MULTI, [0, 1, 2]).correct  # one wrong tick spoils it
    assert not grade(MULTI, []).correct
    assert grade(MULTI, [0]).expected == "A; C"


@pytest.mark.parametrize("text", ["294912", "294,912", "294 912", "294_912", " 294912 ", "2.94912e5", 294912])
def test_numeric_exact_accepts_common_spellings(text):
    assert grade(EXACT, text).correct


@pytest.mark.parametrize("text", ["294911", "294913", "0.3M"])
def test_numeric_exact_rejects_anything_else(text):
    assert not grade(EXACT, text).correct


def test_numeric_tolerance_is_relative():
    assert grade(TOLERANT, "112").correct
    assert grade(TOLERANT, "114").correct  # 1.8 % off
    assert grade(TOLERANT, "109.8").correct
    assert not grade(TOLERANT, "115").correct  # 2.7 % off
    assert "±2%" in grade(TOLERANT, "1").expected


def test_numeric_unreadable_input_explains_why():
    g = grade(EXACT, "lots")
    assert not g.correct and "could not read" in g.note
    assert grade(EXACT, "").note == "no answer given"
    assert parse_number("nan") is None and parse_number("inf") is None and parse_number(True) is None


# --- numbers with units and notations (issue 17) -------------------------------------------
MEMORY = replace(EXACT, id="gb", answer=1120.0, unit="GB", tolerance=0.0)
COUNT = replace(EXACT, id="c", answer=8000, unit="parameters")


@pytest.mark.parametrize("text", ["1,120 GB", "1.12 TB", "1120", "1.12e3 GB", "1 120 GB", "1120GB",
                                  "1.12 × 10^3 GB", "~1,120 GB", "about 1120 gb", "1.12k GB",
                                  "1,120,000,000,000 bytes", "1,120,000 MB"])
def test_numeric_memory_answers_in_any_unit(text):
    g = grade(MEMORY, text)
    assert g.correct and not g.note, (text, g)
    assert g.given == "1,120 GB"  # shown in the question's unit


@pytest.mark.parametrize("text, value", [("16k", 16_000), ("16 K", 16_000), ("8,000 parameters", 8000),
                                         ("3.5M", 3_500_000), ("3.5 million", 3_500_000), ("7B", 7e9),
                                         ("8000 params", 8000), ("294.912k", 294_912), ("0.3M", 300_000)])
def test_numeric_count_notations(text, value):
    assert read_number(text, "parameters").value == value


def test_numeric_unit_conversions_are_exact():
    assert read_number("16 GiB", "GB").value == 16 * 2**30 / 1e9
    assert read_number("14,680,064 bytes", "MB").value == 14.680064
    assert read_number("25 %", "%").value == 25 and read_number("4x", "(factor)").value == 4
    assert grade(replace(EXACT, answer=294912), "294.912k").correct  # no float noise from 294.912 × 1000


@pytest.mark.parametrize("text, unit, message", [
    ("lots", "GB", "could not read"),
    ("1,12 TB", "GB", "use a point for decimals"),
    ("16 GB", "parameters", "is a memory size, but this question asks for parameters"),
    ("1120 parameters", "GB", "is a count, but this question asks for GB"),
    ("8,000 tokens", "parameters", "counts tokens"),
    ("1.12k", "GB", "write the unit"),
    ("12 apples", "GB", "could not read"),
    ("5 GB", "%", "is a memory size"),
    ("", "GB", "no answer given"),
])
def test_unreadable_or_wrong_unit_is_refused_with_a_reason(text, unit, message):
    q = replace(MEMORY, unit=unit)
    reading = read_number(text, unit)
    assert reading.value is None and message in reading.problem
    assert numeric_problem(q, text) == reading.problem  # the UI refuses it and grades nothing
    assert not grade(q, text).correct and message in grade(q, text).note


def test_readable_answers_have_no_problem():
    assert numeric_problem(MEMORY, "1.12 TB") == "" and numeric_problem(MEMORY, "1 GB") == ""
    assert numeric_problem(SINGLE, 1) == ""


def test_one_retry_after_a_numeric_slip():
    first = grade(MEMORY, "112 GB")
    assert not first.correct and first.tries == 1 and retry_allowed(first)
    second = grade(MEMORY, "1.12 TB", tries=2)
    assert second.correct and second.tries == 2
    again_wrong = grade(MEMORY, "11.2 GB", tries=NUMERIC_TRIES)
    assert not again_wrong.correct and not retry_allowed(again_wrong)  # then it locks
    assert not retry_allowed(grade(MEMORY, "1120"))  # right: nothing to retry
    assert not retry_allowed(grade(MEMORY, "lots"))  # unreadable: refused, not a slip
    assert not retry_allowed(grade(SINGLE, 0))  # choice questions never get a second try


# --- option order per attempt, and per-option feedback ---------------------------------------
def test_option_order_is_a_stable_shuffle_per_attempt():
    q = next(q for q in BANK.questions if q.kind == "single")
    assert option_order(q, 7) == option_order(q, 7)  # a rerun shows the same order
    orders = {option_order(q, seed) for seed in range(40)}
    assert len(orders) > 5 and all(sorted(o) == list(range(len(q.options))) for o in orders)
    firsts = {option_order(q, seed)[0] for seed in range(40)}
    assert q.correct <= firsts and len(firsts) > 1  # the right answer is not always first


def test_grading_uses_the_banks_indices():
    """sample_quiz keeps the bank's options; the shuffle is only how the UI shows them."""
    originals = {q.id: q for q in BANK.questions}
    quiz = sample_quiz(BANK, n=40, seed=5)
    for q in quiz.questions:
        if q.kind != "numeric" and q.id in originals:
            assert q.options == originals[q.id].options and q.correct == originals[q.id].correct
            assert grade(q, sorted(q.correct) if q.kind == "multi" else min(q.correct)).correct


def test_multi_select_feedback_marks_each_option():
    g = grade(MULTI, [0, 1])
    assert g.chosen == (0, 1)
    assert option_feedback(g) == [(0, True, True), (1, False, True), (2, True, False)]


def test_shuffled_options_keep_the_right_answer():
    originals = {q.id: q for q in BANK.questions}
    quiz = sample_quiz(BANK, n=40, seed=5)
    for q in quiz.questions:
        if q.kind != "numeric" and q.id in originals:
            orig = originals[q.id]
            assert sorted(q.options) == sorted(orig.options)
            assert {q.options[i] for i in q.correct} == {orig.options[i] for i in orig.correct}


def _fingerprint(quiz):
    return [(q.id, q.options, q.answer) for q in quiz.questions]


def test_same_seed_same_quiz():
    a = sample_quiz(BANK, ["lora", "vera", "training_memory"], n=8, seed=42)
    b = sample_quiz(BANK, ["lora", "vera", "training_memory"], n=8, seed=42)
    assert _fingerprint(a) == _fingerprint(b)


def test_retake_differs():
    first = sample_quiz(BANK, n=10)
    retakes = [sample_quiz(BANK, n=10) for _ in range(3)]
    assert all(r.seed != first.seed for r in retakes)
    assert all(_fingerprint(r) != _fingerprint(first) for r in retakes)
    a, b = sample_quiz(BANK, n=10, seed=1), sample_quiz(BANK, n=10, seed=2)
    assert _fingerprint(a) != _fingerprint(b)


def test_generated_numbers_change_between_seeds():
    prompts = set()
    for seed in range(12):
        quiz = sample_quiz(BANK, ["lora"], n=len(BANK.entries_for("lora")), seed=seed)
        prompts |= {q.prompt for q in quiz.questions if q.id.startswith("gen-lora-layer:")}
    assert len(prompts) > 3


def test_topics_filter_and_round_robin():
    topics = ["dora", "qlora", "multi_gpu"]
    quiz = sample_quiz(BANK, topics, n=3, seed=9)
    assert sorted(q.topic for q in quiz.questions) == sorted(topics)  # one per topic
    quiz = sample_quiz(BANK, topics, n=12, seed=9)
    assert {q.topic for q in quiz.questions} == set(topics)
    assert len({q.id for q in quiz.questions}) == 12


def test_quiz_length_is_capped_by_the_pool():
    pool = len(BANK.entries_for("ia3"))
    assert len(sample_quiz(BANK, ["ia3"], n=100, seed=0).questions) == pool


def test_bad_sampling_requests_name_the_choices():
    with pytest.raises(ValueError, match="choose from: full, lora"):
        sample_quiz(BANK, ["lorra"], n=3)
    with pytest.raises(ValueError, match="at least 1"):
        sample_quiz(BANK, n=0)


def _graded_run():
    quiz = sample_quiz(BANK, ["lora", "dora"], n=6, seed=3)
    graded = []
    for i, q in enumerate(quiz.questions):
        right = i % 2 == 0
        if q.kind == "numeric":
            response = str(q.answer if right else q.answer + 1)
        elif q.kind == "single":
            response = min(q.correct) if right else next(j for j in range(len(q.options)) if j not in q.correct)
        else:
            response = sorted(q.correct) if right else []
        graded.append(grade(q, response))
    return quiz, graded


def test_topic_scores_and_progress():
    quiz, graded = _graded_run()
    scores = {s.topic: s for s in topic_scores(BANK, graded)}
    assert set(scores) == {"lora", "dora"}
    for topic, s in scores.items():
        mine = [g for g in graded if g.question.topic == topic]
        assert (s.answered, s.correct) == (len(mine), sum(g.correct for g in mine))
    progress = {}
    for g in graded:
        progress = record_progress(progress, g)
    assert {t: tuple(v) for t, v in progress.items()} == {t: (s.answered, s.correct) for t, s in scores.items()}
    assert sum(g.correct for g in graded) == 3


def test_csv_export_round_trips_and_defuses_formulas():
    quiz, graded = _graded_run()
    graded[0] = replace(graded[0], given="=HYPERLINK(\"http://x\")")
    rows = list(csv.DictReader(io.StringIO(results_csv(graded))))
    assert len(rows) == len(graded)
    assert [r["id"] for r in rows] == [g.question.id for g in graded]
    assert [r["result"] == "correct" for r in rows] == [g.correct for g in graded]
    assert rows[0]["your_answer"].startswith("'=")


def test_json_export():
    quiz, graded = _graded_run()
    doc = json.loads(results_json(BANK, graded, quiz.seed))
    assert doc["seed"] == quiz.seed
    assert doc["score"] == {"correct": 3, "answered": 6}
    assert sum(t["answered"] for t in doc["topics"]) == 6
    assert all(q["explanation"] for q in doc["questions"])
