"""The quiz bank: it validates, covers every method, links to real pages, and every
numeric answer agrees with peft_edu's computation and with the closed forms of REFERENCE.md."""
from __future__ import annotations

import math
import random
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

import peft_edu
from peft_edu import METHODS
from peft_edu.methods import protocol
from peft_edu.models import arch_from_config, hf_config
from peft_edu.sizing.memory import full_finetune_bytes
from peft_edu.methods.lora import Config as LoRAConfig, scaling
from peft_edu.quiz import BankError, default_bank, load_bank
from peft_edu.quiz.bank import PAGES
from peft_edu.quiz.generate import answer_for, draw, generate

ROOT = Path(__file__).resolve().parents[1]
BANK = default_bank()
GENERAL = ("when_to_finetune", "peft_basics", "training_memory", "multi_gpu")


def test_bank_size_and_coverage():
    assert len(BANK.questions) >= 150  # issue 17: all methods and pages
    for key in METHODS:
        static = [q for q in BANK.questions if q.topic == key]
        assert len(static) >= 4, f"{key} has only {len(static)} static questions"
    for topic in GENERAL:
        assert topic in BANK.topics
        assert len([q for q in BANK.questions if q.topic == topic]) >= 4, topic


def test_all_three_kinds_and_all_difficulties_present():
    assert {q.kind for q in BANK.questions} == {"single", "multi", "numeric"}
    assert {q.difficulty for q in BANK.questions} == {"easy", "medium", "hard"}


def _single_choice_questions() -> list:
    """Every single-choice question a learner can meet: the static ones and a draw of each
    template (templates are numeric today; a single-choice template would count here too)."""
    rng = random.Random(0)
    drawn = [generate(t, rng) for t in BANK.templates]
    return [q for q in (*BANK.questions, *drawn) if q.kind == "single"]


def length_giveaway(questions) -> tuple[float, float]:
    """Shares of questions whose correct option is the longest / the shortest (ties count)."""
    longest = shortest = 0
    for q in questions:
        lengths = [len(o) for o in q.options]
        mine = lengths[next(iter(q.correct))]
        longest += mine == max(lengths)
        shortest += mine == min(lengths)
    return longest / len(questions), shortest / len(questions)


def test_option_length_gives_nothing_away():
    """A learner who always picks the longest (or the shortest) option must not pass: over
    the whole bank the correct option is the longest in at most 35 % of the single-choice
    questions, and the shortest in at most 35 % (issue 17)."""
    questions = _single_choice_questions()
    longest, shortest = length_giveaway(questions)
    assert len(questions) >= 50
    assert longest <= 0.35, f"the correct option is the longest in {longest:.0%} of single-choice questions"
    assert shortest <= 0.35, f"the correct option is the shortest in {shortest:.0%} of single-choice questions"


def test_the_length_check_sees_a_giveaway():
    q = next(q for q in BANK.questions if q.kind == "single")
    padded = replace(q, options=tuple(o + " (padded)" * (i in q.correct) * 40 for i, o in enumerate(q.options)))
    assert length_giveaway([padded] * 3) == (1.0, 0.0)


def test_choice_questions_well_formed():
    for q in BANK.questions:
        assert len(q.explanation) >= 20 and q.prompt and q.page, q.id
        if q.kind == "single":
            assert len(q.correct) == 1, q.id
        if q.kind == "multi":
            assert len(q.correct) >= 1, q.id
        if q.kind in ("single", "multi"):
            assert all(0 <= i < len(q.options) for i in q.correct), q.id
            assert len(set(q.options)) == len(q.options), q.id


def test_ids_and_prompts_unique():
    entries = [*BANK.questions, *BANK.templates]
    assert len({e.id for e in entries}) == len(entries)
    assert len({e.prompt.lower() for e in entries}) == len(entries)


def test_links_point_to_pages_of_the_app():
    """A question's page is a method key or an app page; each app page is one of the app's
    scripts, app_pages/<name>.py (ui/nav.py serves it at /<name>)."""
    scripts = {path.stem for path in (ROOT / "app_pages").glob("*.py")}
    assert set(PAGES) <= scripts, f"no app_pages/<name>.py for {sorted(set(PAGES) - scripts)}"
    for entry in (*BANK.questions, *BANK.templates):
        assert entry.page in METHODS or entry.page in PAGES, entry.id


# --- numeric answers ----------------------------------------------------------------------
def _from_check(check: dict) -> float:
    """Recompute a static numeric answer with peft_edu, as its `check` table says."""
    formula, method = check["formula"], check["method"]
    if formula == "layer_params":
        config = {k: v for k, v in check.items() if k not in ("formula", "method", "d_out", "d_in")}
        return peft_edu.layer_params(method, check["d_out"], check["d_in"], **config)
    if formula == "model":
        per = peft_edu.layer_params(method, check["d_out"], check["d_in"], r=check["r"])
        return per * check["per_layer"] * check["layers"]
    assert formula == "model_params", formula
    spec = protocol(method)  # a whole model: its config's dimensions, through models.arch_from_config
    return spec.model_params(arch_from_config(hf_config(check["model"])), spec.config(**check.get("config", {})))


# Static numeric questions without a `check` table, recomputed from independent sources.
INDEPENDENT = {
    "full-bytes-per-param": lambda: full_finetune_bytes(1).total,  # ZeRO paper accounting
    "lora-alpha-scale": lambda: scaling(LoRAConfig(r=8, alpha=16)),
    "loraplus-lr-b": lambda: 16 * 0.0002,
    "rslora-scale-r16": lambda: 16 / math.sqrt(16),  # alpha / sqrt(r), rsLoRA §3
    "qlora-absmax-bits": lambda: 32 / 64,  # one fp32 absmax per block of 64 (REFERENCE.md)
    "mem-adam-states": lambda: 2,  # first and second moment
    "mem-16bit-weights": lambda: 13e9 * 2 / 1e9,
    "gpu-effective-batch": lambda: 8 * 4 * 4,
    "gpu-ring-bytes-lora": lambda: 2 * 7 / 8 * 4_194_304 * 2 / 1e6,  # 2(N−1)/N · K · bytes
    "gpu-zero2-full-7b": lambda: 2 * 7 + (2 + 12) * 7 / 8,  # 2Ψ + (2 + k)Ψ/N, in GB
    "gpu-pipeline-bubble": lambda: 100 * (4 - 1) / 12,  # (p − 1)/m
    "gpu-pure-bf16-bytes": lambda: 2 + 2 + 2 + 2,
    "gpu-zero3-full-7b": lambda: 16 * 7e9 / 8 / 1e9,  # ZeRO-3: all 16Ψ bytes sharded over N = 8
    "decide-test-size": lambda: math.ceil(1.96 ** 2 * 0.5 * 0.5 / 0.05 ** 2),  # n = z²p(1−p)/h²
    "decide-one-label": lambda: 100 / 240,  # one of 240 test examples, in points
    "emb-mrr-three": lambda: (1 / 1 + 1 / 2 + 1 / 5) / 3,  # mean reciprocal rank
    "mem-adam-fp32-7b": lambda: 2 * 4 * 7e9 / 1e9,  # two fp32 moments per parameter
    "galore-state-values": lambda: 2 * 128 * 11008,  # 2·r·n (GaLore Table 1, m < n)
    "relora-rank": lambda: 4 * 128,  # rank of a sum <= sum of the ranks
}

def _lokr_count(d_out: int, d_in: int, r: int) -> int:
    """LoKr with peft's defaults: d_out = u1·u2, d_in = v1·v2 by peft's own factorization; C (u1, v1)
    full; D (u2, v2) full, or D_a D_b of rank r when r < max(u2, v2) / 2."""
    from peft.tuners.lokr.layer import factorization

    (u1, u2), (v1, v2) = factorization(d_out), factorization(d_in)
    return u1 * v1 + (r * (u2 + v2) if r < max(u2, v2) / 2 else u2 * v2)


# Closed forms from REFERENCE.md, written here independently of peft_edu.
CLOSED_FORM = {
    "full": lambda v: v["d_out"] * v["d_in"],
    "lora": lambda v: v["r"] * (v["d_in"] + v["d_out"]),
    "delta_lora": lambda v: v["r"] * (v["d_in"] + v["d_out"]),
    "rslora": lambda v: v["r"] * (v["d_in"] + v["d_out"]),
    "pissa": lambda v: v["r"] * (v["d_in"] + v["d_out"]),
    "bitfit": lambda v: v["d_out"],  # the layer's bias
    "ln_tuning": lambda v: 2 * v["d_out"],  # gain and bias of the LayerNorm after the layer
    "adalora": lambda v: math.ceil(1.5 * v["r"]) * (v["d_in"] + v["d_out"] + 1),  # P, λ, Q of r0 = ⌈1.5 r⌉ triplets
    "lora_fa": lambda v: v["r"] * v["d_out"],
    "vera": lambda v: v["d_out"] + v["r"],
    "dora": lambda v: v["r"] * (v["d_in"] + v["d_out"]) + v["d_out"],
    "adapter": lambda v: 2 * v["d_out"] * v["bottleneck"] + v["d_out"] + v["bottleneck"],
    "galore": lambda v: v["d_out"] * v["d_in"],  # the whole weight trains; r shrinks Adam's state only
    "relora": lambda v: v["r"] * (v["d_in"] + v["d_out"]),  # one LoRA pair at a time
    "lokr": lambda v: _lokr_count(v["d_out"], v["d_in"], v["r"]),  # C full, D full or rank r (peft's rule)
    "oft": lambda v: (v["d_in"] // v["block_size"]) * (v["block_size"] * (v["block_size"] - 1) // 2),  # n blocks, b(b-1)/2 each
}


def test_static_numeric_answers_equal_peft_edu():
    numeric = [q for q in BANK.questions if q.kind == "numeric"]
    assert len(numeric) >= 10
    for q in numeric:
        check = dict(q.check)
        expected = _from_check(check) if check else INDEPENDENT[q.id]()
        assert q.answer == pytest.approx(expected, rel=1e-12), q.id


def test_paper_checks_in_the_bank():
    by_id = {q.id: q for q in BANK.questions}
    assert by_id["lora-roberta-base"].answer == 294_912  # REFERENCE.md / LoRA paper 0.3M
    assert by_id["lora-1000-r4"].answer == 8_000


@pytest.mark.parametrize("template", BANK.templates, ids=lambda t: t.id)
def test_generated_answers_equal_peft_edu_and_closed_form(template):
    rng = random.Random(1234)
    for _ in range(25):
        values = draw(template, rng)
        answer, _ = answer_for(template, values)
        if template.formula == "layer_params":
            per = peft_edu.layer_params(template.method, values["d_out"], values["d_in"],
                                        **{k: v for k, v in values.items() if k in ("r", "bottleneck", "block_size")})
            assert per == CLOSED_FORM[template.method](values)
            assert answer == per * template.per_layer * values.get("layers", 1)
        else:
            total_gb = 16 * values["billions"] * 1e9 / 1e9  # 16 bytes per parameter
            assert answer == pytest.approx(total_gb / values.get("gpus", 1))


@pytest.mark.parametrize("template", BANK.templates, ids=lambda t: t.id)
def test_generated_questions_show_their_sizes_and_vary(template):
    rng = random.Random(7)
    questions = [generate(template, rng) for _ in range(20)]
    assert len({q.prompt for q in questions}) > 1, "a retake must be able to differ"
    for q in questions:
        values = dict(q.check)
        for name in ("d_out", "r", "bottleneck", "layers", "billions", "gpus"):
            if name in values:
                assert f"{values[name]:,}" in q.prompt, (name, q.prompt)
        assert q.kind == "numeric" and q.explanation and "{" not in q.prompt + q.explanation


def test_reference_whole_model_counts():
    """The LoRA-on-q,v closed form the bank teaches matches REFERENCE.md for GPT-3 175B."""
    assert 96 * 2 * peft_edu.layer_params("lora", 12288, 12288, r=8) == 37_748_736


# --- the validator catches mistakes --------------------------------------------------------
GOOD = """
[[question]]
id = "q1"
topic = "lora"
kind = "single"
difficulty = "easy"
page = "lora"
prompt = "A prompt?"
options = [{text = "yes", correct = true}, {text = "no"}]
explanation = "Because this explanation is long enough."
"""


def _bank(tmp_path: Path, questions: str, topics: str = "") -> Path:
    (tmp_path / "questions").mkdir()
    (tmp_path / "topics.toml").write_text(topics)
    (tmp_path / "questions" / "a.toml").write_text(textwrap.dedent(questions))
    return tmp_path


def test_a_minimal_bank_loads(tmp_path):
    bank = load_bank(_bank(tmp_path, GOOD))
    assert [q.id for q in bank.questions] == ["q1"]


@pytest.mark.parametrize("mutation, message", [
    (lambda s: s.replace('{text = "no"}', '{text = "no", correct = true}'), "exactly one correct"),
    (lambda s: s.replace('kind = "single"', 'kind = "multi"').replace(', correct = true', ''), "at least one correct"),
    (lambda s: s.replace('topic = "lora"', 'topic = "lorra"'), "unknown topic"),
    (lambda s: s.replace('page = "lora"', 'page = "nowhere"'), "page 'nowhere'"),
    (lambda s: s.replace('"Because this explanation is long enough."', '"short"'), "explanation"),
    (lambda s: s.replace('difficulty = "easy"', 'difficulty = "trivial"'), "difficulty"),
    (lambda s: s.replace('kind = "single"', 'kind = "essay"'), "kind must be"),
    (lambda s: s.replace('prompt =', 'explaination = "typo"\nprompt ='), "unknown field"),
    (lambda s: s + s, "duplicate id"),
    (lambda s: s + s.replace('id = "q1"', 'id = "q2"'), "repeats the prompt"),
    (lambda s: s.replace('{text = "no"}', '{text = "yes"}'), "same text"),
    (lambda s: s.replace("options = [", "options = [[["), "cannot read"),
])
def test_validator_reports_each_problem(tmp_path, mutation, message):
    with pytest.raises(BankError, match=message):
        load_bank(_bank(tmp_path, mutation(GOOD)))


def test_numeric_question_needs_a_number(tmp_path):
    bad = GOOD.replace('kind = "single"', 'kind = "numeric"').replace(
        'options = [{text = "yes", correct = true}, {text = "no"}]', 'answer = "lots"')
    with pytest.raises(BankError, match="numeric question needs a number"):
        load_bank(_bank(tmp_path, bad))


def test_general_topics_must_name_a_page(tmp_path):
    with pytest.raises(BankError, match="needs a title and a page"):
        load_bank(_bank(tmp_path, GOOD, '[topics.extra]\ntitle = "Extra"\npage = "nowhere"\n'))
