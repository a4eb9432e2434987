"""Figures built once and shared by every session, and shown without re-serialising them.

A page run must stay cheap for a whole class (issue 16: <= 0.1 s of server CPU per page run).
Two costs repeat on every run unless avoided, both measured on the method pages:

- building a plotly figure (``peft_edu.viz``) from cached data: ~10 ms per figure for the
  white template alone, 50-150 ms for a lesson's charts;
- ``st.plotly_chart`` turning the figure into a dict (a deep copy, ~10 ms for an animation).

``figure(builder, *args)`` builds ``builder(*args)`` once per distinct arguments and returns
the same figure afterwards: plain values (numbers, strings, tuples of them) are keyed by value,
other objects by identity, so pass the objects that a ``st.cache_resource`` function returns
(the same object every run; ``st.cache_data`` would hand out a fresh copy each time). The memo
holds the arguments too, so an identity is never reused while its figure is kept.

``chart(fig, key, ...)`` draws a figure; for a figure from ``figure`` or one marked ``shared``
(never changed after it is built) the dict form is computed once too. Shared figures must never
be changed by a page.
"""
from __future__ import annotations

import collections
import threading

import streamlit as st
from plotly.basedatatypes import BaseFigure

_MAX = 256  # figures kept (LRU); a page's lesson has 1-7
_MEMO: collections.OrderedDict = collections.OrderedDict()  # key -> (figure, args kept alive)
_SPECS: collections.OrderedDict = collections.OrderedDict()  # id(figure) -> (figure, its dict), LRU
_LOCK = threading.Lock()
_PLAIN = (str, int, float, bool, type(None))


def _key_of(value) -> tuple:
    if isinstance(value, _PLAIN):
        return ("=", type(value).__name__, value)
    if isinstance(value, tuple) and all(isinstance(v, _PLAIN) for v in value):
        return ("=", "tuple", value)
    return ("id", id(value))


def figure(builder, *args, **kwargs):
    """``builder(*args, **kwargs)``, built once for these arguments and shared afterwards."""
    key = (builder, tuple(_key_of(a) for a in args),
           tuple(sorted((k, _key_of(v)) for k, v in kwargs.items())))
    with _LOCK:
        hit = _MEMO.get(key)
        if hit is not None:
            _MEMO.move_to_end(key)
            return hit[0]
    fig = builder(*args, **kwargs)  # outside the lock: two sessions may build it once each, harmlessly
    with _LOCK:
        _MEMO[key] = (fig, (args, kwargs))
        while len(_MEMO) > _MAX:
            _MEMO.popitem(last=False)
    return fig


def once(builder, *args, **kwargs):
    """``builder(*args, **kwargs)`` computed once for these arguments and shared, as ``figure`` does
    for figures: for a page's words and tables drawn from cached results (read only). A page run
    then recounts nothing (the pre-training lesson's ranks: ~9 % of the LoRA page's run)."""
    return figure(builder, *args, **kwargs)


def _spec_of(fig) -> dict:
    """The dict form of a shared figure, made once (LRU of ``_MAX`` figures; held with its figure,
    so the id cannot be reused while the entry lives)."""
    with _LOCK:
        hit = _SPECS.get(id(fig))
        if hit is not None and hit[0] is fig:
            _SPECS.move_to_end(id(fig))
            return hit[1]
    spec = fig.to_dict()
    with _LOCK:
        _SPECS[id(fig)] = (fig, spec)
        while len(_SPECS) > _MAX:
            _SPECS.popitem(last=False)
    return spec


class _Built(BaseFigure):
    """A memoised figure as ``st.plotly_chart`` reads it: ``to_dict()`` returns the dict made
    once (read only; plotly's own ``to_dict`` deep-copies the whole figure on every call)."""

    def __init__(self, spec: dict) -> None:  # noqa: D107 - BaseFigure's own set-up is not needed
        self.__dict__["_built_spec"] = spec

    def to_dict(self) -> dict:
        return self.__dict__["_built_spec"]


WIDE, PHONE = "figwide-", "figphone-"  # container keys: Streamlit gives each the class st-key-<key>
NARROW_PX = 640  # Streamlit stacks columns below this width: the phone layouts take over there too
NARROW_CSS = (f"@media (max-width: {NARROW_PX}px) {{ [class*='st-key-{WIDE}'] {{ display: none; }} }}"
              f"@media (min-width: {NARROW_PX + 1}px) {{ [class*='st-key-{PHONE}'] {{ display: none; }} }}")


def chart(fig, key: str, shared: bool = False, phone=None, **kwargs) -> None:
    """``st.plotly_chart(fig)`` at the page's width, in the figure's own colours (its template; tests/
    test_contrast.py checks every text at >= 4.5:1). A figure from ``figure`` — or one passed with
    ``shared=True``, e.g. the result of a ``st.cache_resource`` function — is turned into its dict
    once, not on every run.

    ``phone``: the same figure laid out for a 400 px screen (matrices in rows of two, subplots
    stacked). Both are sent, each in a container of its own; the app's style sheet (``NARROW_CSS``)
    shows the one that fits the browser's width, so neither the server nor the page has to know it."""
    if phone is not None:
        with st.container(key=f"{WIDE}{key}"):
            chart(fig, key, shared, **kwargs)
        with st.container(key=f"{PHONE}{key}"):
            chart(phone, f"{key}_phone", shared, **kwargs)
        return
    kwargs.setdefault("width", "stretch")
    kwargs.setdefault("theme", None)  # plotly's own template: Streamlit's theme fades tick text below 4.5:1
    with _LOCK:
        memoised = shared or any(hit[0] is fig for hit in _MEMO.values())
    st.plotly_chart(_Built(_spec_of(fig)) if memoised else fig, key=key, **kwargs)
