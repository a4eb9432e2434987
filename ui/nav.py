"""The app's pages as ``st.Page`` objects: one per registry method, plus the tools and the quiz.

``app.py`` builds the navigation from ``navigation_sections``; ``ui.links`` builds the same
pages again for links. A page's identity in Streamlit is its URL path, so a page built
again (even around a placeholder function) points to the page the router runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import streamlit as st

from peft_edu import METHODS

PAGES_DIR = Path(__file__).resolve().parent.parent / "app_pages"  # absolute: any main script works

TOOL_PAGES = {  # url path -> (script in app_pages/, title, icon)
    "calculator": ("calculator.py", "Parameter & memory calculator", ":material/calculate:"),
    "lab": ("lab.py", "Live fine-tune lab", ":material/science:"),
    "compare": ("compare.py", "Compare methods", ":material/compare_arrows:"),
    "search": ("search.py", "Semantic search lab", ":material/manage_search:"),
    "distributed": ("distributed.py", "From one GPU to many", ":material/hub:"),
}
LESSON_PAGES = {  # url path -> (script in app_pages/, title, icon): lessons not tied to one method
    "deciding": ("deciding.py", "Deciding whether to fine-tune", ":material/rule:"),
}
QUIZ_PAGE = ("quiz.py", "Quiz", ":material/quiz:")
TEACHER_PAGE = ("teacher.py", "Teacher: your class", ":material/school:")  # behind a password


def home_page() -> st.Page:
    return st.Page(PAGES_DIR / "home.py", title="Home", icon=":material/home:", url_path="home", default=True)


def _not_routed() -> None:
    """Stands in for a method page's renderer in a link (links need only the URL path)."""


def method_page(key: str, render: Callable[[], None] = _not_routed) -> st.Page:
    return st.Page(render, title=METHODS[key].name, url_path=key)


def tool_page(name: str) -> st.Page:
    script, title, icon = TOOL_PAGES[name] if name in TOOL_PAGES else LESSON_PAGES[name]
    return st.Page(PAGES_DIR / script, title=title, icon=icon, url_path=name)


def quiz_page() -> st.Page:
    script, title, icon = QUIZ_PAGE
    return st.Page(PAGES_DIR / script, title=title, icon=icon, url_path="quiz")


def teacher_page() -> st.Page:
    script, title, icon = TEACHER_PAGE
    return st.Page(PAGES_DIR / script, title=title, icon=icon, url_path="teacher")


def page(name: str) -> st.Page:
    """The page named ``name``: "home", "quiz", a tool page or a method key."""
    if name in METHODS:
        return method_page(name)
    if name == "home":
        return home_page()
    if name == "quiz":
        return quiz_page()
    if name == "teacher":
        return teacher_page()
    return tool_page(name)


def title(name: str) -> str:
    """The sidebar title of the page named ``name``."""
    if name in METHODS:
        return METHODS[name].name
    return {"home": "Home", "quiz": QUIZ_PAGE[1], "teacher": TEACHER_PAGE[1]}.get(name) or {**TOOL_PAGES, **LESSON_PAGES}[name][1]


def navigation_sections(method_renderer: Callable[[str], Callable[[], None]]) -> dict[str, list[st.Page]]:
    """The app's sidebar: Start, Methods (from the registry), Tools, Quiz, Teacher.

    ``method_renderer(key)`` returns the function that draws the page of method ``key``."""
    return {
        "Start": [home_page(), *(tool_page(name) for name in LESSON_PAGES)],
        "Methods": [method_page(key, method_renderer(key)) for key in METHODS],
        "Tools": [tool_page(name) for name in TOOL_PAGES],
        "Quiz": [quiz_page()],
        "Teacher": [teacher_page()],
    }
