"""The guided path through the app: where a newcomer starts, and a "next" link at the end of
every page on the path (the router, ``app.py``, draws it after the page).

The path goes from why full fine-tuning is hard, through the method most people use and the
one that fits a 7B model on one GPU, to the tools and the quiz. Pages that exist only in some
versions of the app (a page another feature adds) are skipped when they are not there.
"""
from __future__ import annotations

import streamlit as st

from peft_edu import METHODS
from ui import nav
from ui.links import link

# page name (as ui.nav names it) -> why it comes at this point of the path
GUIDED_PATH = (
    ("home", "what fine-tuning is and why it needs so much memory"),
    ("deciding", "whether your task needs fine-tuning at all"),
    ("full", "the baseline: every weight trains"),
    ("lora", "the method most people use: a low-rank update beside the frozen W"),
    ("qlora", "LoRA on a 4-bit base: a 7B model on one GPU"),
    ("calculator", "those methods on real models: counts and memory"),
    ("lab", "fine-tune a real transformer yourself"),
    ("compare", "all methods side by side"),
    ("quiz", "check what you learned"),
)


def _exists(name: str) -> bool:
    return name in METHODS or name in ("home", "quiz") or name in nav.TOOL_PAGES or name in nav.LESSON_PAGES


def path() -> list[tuple[str, str]]:
    """The steps of the guided path this app has."""
    return [(name, why) for name, why in GUIDED_PATH if _exists(name)]


def next_step(name: str) -> tuple[str, str] | None:
    """The step after page ``name`` on the path, or None (off the path, or its last page)."""
    steps = path()
    names = [n for n, _ in steps]
    if name not in names or names.index(name) + 1 == len(names):
        return None
    return steps[names.index(name) + 1]


def render_path() -> None:
    """The whole path as numbered links (the home page's "where to start")."""
    for i, (name, why) in enumerate(path()[1:], start=1):
        link(name, f"{i}. {nav.title(name)}: {why}")


def render_next(url_path: str) -> None:
    """A "Next on the guided path" link at the end of the page at ``url_path`` ("" is home)."""
    step = next_step(url_path or "home")
    if step is None:
        return
    name, why = step
    st.divider()
    link(name, f"Next on the guided path: {nav.title(name)} — {why}", icon=":material/arrow_forward:")
