"""Navigation shared by app.py and the pages: one st.Page per registry method plus tools.

A page's identity in Streamlit is its URL path, so building the same st.Page again
(for a link) points to the same page.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from peft_edu import METHODS

PAGES_DIR = Path(__file__).resolve().parent  # absolute: works whichever script is the main one

TOOL_PAGES = {  # url path -> (script in pages/, title, icon)
    "calculator": ("calculator.py", "Parameter & memory calculator", ":material/calculate:"),
    "lab": ("lab.py", "Live fine-tune lab", ":material/science:"),
    "compare": ("compare.py", "Compare methods", ":material/compare_arrows:"),
}
QUIZ_PAGE = ("quiz.py", "Quiz", ":material/quiz:")


def _method_renderer(key: str):
    def render() -> None:
        from pages.method import render_method
        from pages.quiz_widgets import render_method_quiz

        render_method(key)
        render_method_quiz(key)  # three questions on this method (issue 7)

    render.__name__ = f"method_{key}"
    return render


def home_page() -> st.Page:
    return st.Page(PAGES_DIR / "home.py", title="Home", icon=":material/home:", url_path="home", default=True)


def method_page(key: str) -> st.Page:
    spec = METHODS[key]
    return st.Page(_method_renderer(key), title=spec.name, url_path=key)


def tool_page(name: str) -> st.Page:
    script, title, icon = TOOL_PAGES[name]
    return st.Page(PAGES_DIR / script, title=title, icon=icon, url_path=name)


def quiz_page() -> st.Page:
    script, title, icon = QUIZ_PAGE
    return st.Page(PAGES_DIR / script, title=title, icon=icon, url_path="quiz")


def navigation_sections() -> dict[str, list[st.Page]]:
    """The app's sidebar: Start, Methods (from the registry), Tools, Quiz."""
    return {
        "Start": [home_page()],
        "Methods": [method_page(key) for key in METHODS],
        "Tools": [tool_page(name) for name in TOOL_PAGES],
        "Quiz": [quiz_page()],
    }
