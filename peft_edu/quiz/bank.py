"""The quiz bank's data types, its TOML loader and its validator (used by peft_edu.quiz).

Every problem in the bank is reported at once, each naming its file and question id, so
a teacher editing the TOML sees all mistakes in one go.
"""
from __future__ import annotations

import re
import string
import tomllib
from dataclasses import dataclass
from pathlib import Path

from peft_edu.registry import METHODS

BANK_DIR = Path(__file__).resolve().parents[2] / "assets" / "quiz"
KINDS = ("single", "multi", "numeric")  # single choice, multiple select, numeric entry
DIFFICULTIES = ("easy", "medium", "hard")
# App pages other than the method pages; each is a script app_pages/<name>.py of the app
# (the library does not import the app: tests/test_quiz_bank.py checks the scripts exist).
PAGES = ("home", "deciding", "calculator", "lab", "compare", "distributed", "search")
FORMULAS = ("layer_params", "finetune_gb", "finetune_gb_per_gpu")  # see peft_edu.quiz.generate

_QUESTION_KEYS = {"id", "topic", "kind", "difficulty", "page", "prompt", "options", "answer",
                  "tolerance", "unit", "explanation", "check"}
_TEMPLATE_KEYS = {"id", "topic", "difficulty", "page", "formula", "method", "per_layer",
                  "unit", "tolerance", "prompt", "explanation", "choices"}
_EXTRA_PLACEHOLDERS = {"answer", "per_layer", "per_matrix", "total_gb", "d_out", "d_in"}  # quiz_gen fills these
_REQUIRED = ("id", "topic", "kind", "difficulty", "page", "prompt", "explanation")


class BankError(ValueError):
    """The bank has problems; the message lists every one of them."""


@dataclass(frozen=True)
class Question:
    id: str  # unique across the bank; generated questions get "<template id>:<sizes>"
    topic: str  # a registry key or a general topic from topics.toml
    kind: str  # "single" | "multi" | "numeric"
    difficulty: str  # "easy" | "medium" | "hard"
    prompt: str  # the question text (Markdown)
    options: tuple[str, ...]  # answer options; empty for numeric questions
    correct: frozenset[int]  # indices of the correct options; empty for numeric
    answer: float | None  # the numeric answer; None for choice questions
    tolerance: float  # numeric: relative tolerance, 0 = exact
    unit: str  # numeric: unit shown next to the answer ("parameters", "GB")
    explanation: str  # why the answer is right: shown after every answer
    page: str  # the app page that teaches it: a method key or one of PAGES
    check: tuple[tuple[str, object], ...] = ()  # how the tests recompute a numeric answer


@dataclass(frozen=True)
class Template:
    id: str  # unique across the bank
    topic: str  # as for Question
    difficulty: str  # as for Question
    page: str  # as for Question
    formula: str  # which peft_edu computation answers it, one of FORMULAS
    method: str  # registry key passed to layer_params ("" for memory formulas)
    per_layer: int  # identical matrices per layer (e.g. 2 for query and value)
    unit: str  # unit of the answer
    tolerance: float  # relative tolerance, 0 = exact
    prompt: str  # str.format template over the drawn sizes and {answer}
    explanation: str  # str.format template, may show the arithmetic
    choices: tuple[tuple[str, tuple], ...]  # name -> values to draw from


@dataclass(frozen=True)
class Bank:
    questions: tuple[Question, ...]
    templates: tuple[Template, ...]
    topics: dict[str, str]  # topic key -> title: the registry's methods, then general topics
    topic_pages: dict[str, str]  # topic key -> page that teaches it

    def entries_for(self, topic: str) -> list[Question | Template]:
        return [e for e in (*self.questions, *self.templates) if e.topic == topic]

    def count_by_topic(self) -> dict[str, int]:
        return {t: len(self.entries_for(t)) for t in self.topics}


def load_bank(directory: Path | str = BANK_DIR) -> Bank:
    """Read and validate a bank directory; raise BankError listing every problem."""
    directory = Path(directory)
    problems: list[str] = []
    topics, topic_pages = _load_topics(directory / "topics.toml", problems)
    questions, templates = [], []
    gen_path = directory / "generated.toml"
    files = sorted((directory / "questions").glob("*.toml")) + ([gen_path] if gen_path.exists() else [])
    for path in files:  # a method's own file may hold its templates too
        tables = _read(path, problems)
        for i, raw in enumerate(tables.get("question", [])):
            questions.append(_question(raw, f"{path.name}[{i}]", topics, problems))
        for i, raw in enumerate(tables.get("template", [])):
            templates.append(_template(raw, f"{path.name}[template {i}]", topics, problems))
    questions = [q for q in questions if q is not None]
    templates = [t for t in templates if t is not None]
    _check_unique(questions, templates, problems)
    if problems:
        raise BankError(f"quiz bank {directory}: {len(problems)} problem(s):\n- " + "\n- ".join(problems))
    return Bank(tuple(questions), tuple(templates), topics, topic_pages)


def _read(path: Path, problems: list[str]) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as err:
        problems.append(f"{path.name}: cannot read: {err}")
        return {}


def _load_topics(path: Path, problems: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    topics = {key: spec.name for key, spec in METHODS.items()}
    pages = {key: key for key in METHODS}
    for key, entry in _read(path, problems).get("topics", {}).items():
        if key in METHODS:
            problems.append(f"topics.toml: {key!r} is a registry key; only general topics go here")
        elif not isinstance(entry, dict) or not entry.get("title") or entry.get("page") not in PAGES:
            problems.append(f"topics.toml: {key!r} needs a title and a page, one of {PAGES}")
        else:
            topics[key], pages[key] = entry["title"], entry["page"]
    return topics, pages


def _common(raw: dict, where: str, allowed: set, topics: dict, problems: list[str]) -> bool:
    """Checks shared by questions and templates; False when the entry is unusable."""
    if not isinstance(raw, dict):
        problems.append(f"{where}: not a table")
        return False
    where = f"{where} ({raw.get('id', '?')})"
    before = len(problems)
    required = [k for k in _REQUIRED if k in allowed]
    problems += [f"{where}: missing {k!r}" for k in required if not isinstance(raw.get(k), str) or not raw[k].strip()]
    problems += [f"{where}: unknown field {k!r}; fields are {sorted(allowed)}" for k in set(raw) - allowed]
    if raw.get("topic") not in topics:
        problems.append(f"{where}: unknown topic {raw.get('topic')!r}; choose from {list(topics)}")
    if raw.get("difficulty") not in DIFFICULTIES:
        problems.append(f"{where}: difficulty must be one of {DIFFICULTIES}")
    if raw.get("page") not in (*METHODS, *PAGES):
        problems.append(f"{where}: page {raw.get('page')!r} is not a method key or one of {PAGES}")
    if len(str(raw.get("explanation", "")).strip()) < 20:
        problems.append(f"{where}: the explanation must teach something (20+ characters)")
    return len(problems) == before


def _question(raw: dict, where: str, topics: dict, problems: list[str]) -> Question | None:
    if not _common(raw, where, _QUESTION_KEYS, topics, problems):
        return None
    where = f"{where} ({raw['id']})"
    kind = raw["kind"]
    if kind not in KINDS:
        problems.append(f"{where}: kind must be one of {KINDS}, got {kind!r}")
        return None
    options, correct, answer, tolerance = (), frozenset(), None, float(raw.get("tolerance", 0.0))
    if kind == "numeric":
        answer = raw.get("answer")
        if isinstance(answer, bool) or not isinstance(answer, (int, float)) or "options" in raw:
            problems.append(f"{where}: a numeric question needs a number 'answer' and no options")
            return None
        if not 0 <= tolerance < 1:
            problems.append(f"{where}: tolerance is relative, 0 <= tolerance < 1")
    else:
        options, correct = _options(raw.get("options"), kind, where, problems)
        if not options:
            return None
    check = tuple(sorted(raw.get("check", {}).items())) if isinstance(raw.get("check"), dict) else ()
    return Question(raw["id"], raw["topic"], kind, raw["difficulty"], raw["prompt"].strip(), options,
                    correct, answer, tolerance, str(raw.get("unit", "")), raw["explanation"].strip(),
                    raw["page"], check)


def _options(raw, kind: str, where: str, problems: list[str]):
    ok = isinstance(raw, list) and len(raw) >= 2 and all(
        isinstance(o, dict) and isinstance(o.get("text"), str) and o["text"].strip()
        and set(o) <= {"text", "correct"} and isinstance(o.get("correct", False), bool) for o in raw)
    if not ok:
        problems.append(f"{where}: options must be 2+ tables {{text = '...', correct = true/false}}")
        return (), frozenset()
    texts = tuple(o["text"].strip() for o in raw)
    correct = frozenset(i for i, o in enumerate(raw) if o.get("correct", False))
    if len(set(texts)) != len(texts):
        problems.append(f"{where}: two options have the same text")
    if kind == "single" and len(correct) != 1:
        problems.append(f"{where}: a single-choice question needs exactly one correct option, has {len(correct)}")
    if kind == "multi" and not correct:
        problems.append(f"{where}: a multiple-select question needs at least one correct option")
    return texts, correct


def _template(raw: dict, where: str, topics: dict, problems: list[str]) -> Template | None:
    if not _common(raw, where, _TEMPLATE_KEYS, topics, problems):
        return None
    where = f"{where} ({raw['id']})"
    choices = raw.get("choices")
    if raw.get("formula") not in FORMULAS:
        problems.append(f"{where}: formula must be one of {FORMULAS}")
    if raw.get("formula") == "layer_params" and raw.get("method") not in METHODS:
        problems.append(f"{where}: layer_params needs a method, one of {list(METHODS)}")
    if not isinstance(choices, dict) or not all(isinstance(v, list) and v for v in choices.values()):
        problems.append(f"{where}: choices must map each name to a non-empty list of values")
        return None
    names = set(choices) | _EXTRA_PLACEHOLDERS
    for field in ("prompt", "explanation"):
        used = {f[1].split(".")[0].split("[")[0] for f in string.Formatter().parse(raw[field]) if f[1]}
        if used - names:
            problems.append(f"{where}: {field} uses unknown placeholder(s) {sorted(used - names)}")
    return Template(raw["id"], raw["topic"], raw["difficulty"], raw["page"], raw["formula"],
                    raw.get("method", ""), int(raw.get("per_layer", 1)), str(raw.get("unit", "")),
                    float(raw.get("tolerance", 0.0)), raw["prompt"].strip(), raw["explanation"].strip(),
                    tuple((k, tuple(tuple(x) if isinstance(x, list) else x for x in v)) for k, v in choices.items()))


def _normalise(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def _check_unique(questions: list, templates: list, problems: list[str]) -> None:
    seen_ids: set[str] = set()
    seen_prompts: dict[str, str] = {}
    for entry in (*questions, *templates):
        if entry.id in seen_ids:
            problems.append(f"duplicate id {entry.id!r}")
        seen_ids.add(entry.id)
        key = _normalise(entry.prompt)
        if key in seen_prompts:
            problems.append(f"{entry.id!r} repeats the prompt of {seen_prompts[key]!r}")
        seen_prompts.setdefault(key, entry.id)
