"""No unsafe loading and no raw HTML anywhere in the code a learner's data can reach."""
import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

SOURCES = sorted(
    p for d in ("peft_edu", "app_pages", "ui", "scripts") for p in (ROOT / d).rglob("*.py")
) + [ROOT / "app.py"]


def _calls(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return f"{_name(func.value)}.{func.attr}"
    if isinstance(func, ast.Name):
        return func.id
    return "?"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_unsafe_deserialisation(path):
    for call in _calls(path):
        name = _name(call.func)
        assert not name.startswith("pickle."), f"{path}: {name} (use safetensors)"
        if name.endswith("torch.load"):
            weights_only = {k.arg: k.value for k in call.keywords}.get("weights_only")
            assert isinstance(weights_only, ast.Constant) and weights_only.value is True, (
                f"{path}:{call.lineno} torch.load without weights_only=True"
            )


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_unsafe_html(path):
    """unsafe_allow_html is never used and st.html only draws a constant of the app's own (the caption
    style in app.py): learner text is always rendered as text."""
    for call in _calls(path):
        for kw in call.keywords:
            if kw.arg == "unsafe_allow_html":
                assert isinstance(kw.value, ast.Constant) and kw.value.value is False, (
                    f"{path}:{call.lineno} uses unsafe_allow_html"
                )
        if _name(call.func) in {"st.html", "components.html"}:  # only a fixed string of the app's own, never learner text
            assert len(call.args) == 1 and isinstance(call.args[0], ast.Constant) and not call.keywords, \
                f"{path}:{call.lineno}: st.html with anything but a constant string"


def test_trust_remote_code_never_enabled():
    for path in SOURCES:
        assert "trust_remote_code=True" not in path.read_text(encoding="utf-8"), path
