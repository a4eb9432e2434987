"""The method-specific lesson at the end of every method page: ``render_lesson(key)``.

Each lesson module (``lora_family``, ``others``) defines one function per method, named by
the method's registry key; a new method's lesson is one more such function.
"""
from __future__ import annotations

import streamlit as st

from peft_edu import METHODS
from ui.lessons import baselines, lora_family, others, wave2_adalora, wave2_galore, wave2_lokr, wave2_oft, wave2_relora

LESSON_MODULES = (lora_family, others, baselines, wave2_adalora, wave2_oft, wave2_lokr, wave2_galore, wave2_relora)


def lesson_of(key: str):
    """The function that draws method ``key``'s lesson, or None where there is none yet."""
    for module in LESSON_MODULES:
        fn = getattr(module, key, None)
        if callable(fn):
            return fn
    return None


def render_lesson(key: str) -> None:
    """The lesson of METHODS[key], below the method page's common parts."""
    if key not in METHODS:
        st.warning(f"No method-specific lesson for {key!r}: it is not a method; methods: {', '.join(METHODS)}")
        return
    lesson = lesson_of(key)
    if lesson is None:
        st.info(f"No hands-on lesson for {METHODS[key].name} yet: the animation above is its real run.")
        return
    st.header(f"Lesson: {METHODS[key].name} up close", anchor="lesson")
    st.caption("Every figure below comes from a real run or measurement with peft_edu, computed on first "
               "visit and cached for everyone.")
    lesson()
