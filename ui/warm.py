"""Background warm-up: every method page, the Compare race and the lab's baseline, once after start-up.

A method page's first visit trains its real run and builds its figures (0.3-2 s of CPU each);
the Compare race trains every method (~4 s). Without a warm-up the first learner to open a page
waits for that. ``start()`` (called by ``app.py`` once per server, after the first page is
drawn) runs a daemon thread that draws each method page — the same ``ui.method.render_method``
a learner's visit runs — in a headless session whose output goes nowhere, then the race, then
trains the lab's shared head-only baseline (``warm_lab``). The shared caches
(``st.cache_resource``) fill as they would on a learner's first visit, so every later visit
finds them full. It logs ``warm-up finished in N s`` to the server log.

The headless session is a Streamlit ``ScriptRunContext`` with a message sink that drops
everything (the pinned Streamlit's internals; a problem there only skips the warm-up, and the
pages still compute on demand). Off with ``PEFT_LAB_WARM_UP=0`` (the tests set it: their
pages are measured cold).
"""
from __future__ import annotations

import logging
import os
import threading
import time

from ui import perf

LOG = logging.getLogger("peft_lab.warm")
_STATE = {"started": False, "done": False, "seconds": None, "problems": []}
_LOCK = threading.Lock()


def enabled() -> bool:
    return os.environ.get("PEFT_LAB_WARM_UP", "1").strip() not in ("0", "false", "no", "off")


def status() -> dict:
    """{"started", "done", "seconds", "problems"}: for the teacher page and the tests."""
    with _LOCK:
        return dict(_STATE, problems=list(_STATE["problems"]))


def start() -> bool:
    """Start the warm-up thread once per process (False if it is off or already started)."""
    with _LOCK:
        if _STATE["started"] or not enabled():
            return False
        _STATE["started"] = True
    threading.Thread(target=_run, name="peft-lab-warm-up", daemon=True).start()
    return True


def _headless_context():
    """A script-run context whose messages go nowhere (a session no browser is attached to)."""
    from pathlib import Path

    from streamlit.runtime.fragment import MemoryFragmentStorage
    from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner_utils.script_run_context import ScriptRunContext, add_script_run_ctx
    from streamlit.runtime.state import SafeSessionState, SessionState

    main = str(Path(__file__).resolve().parent.parent / "app.py")
    ctx = ScriptRunContext(
        session_id="peft-lab-warm-up", _enqueue=lambda msg: None, query_string="",
        session_state=SafeSessionState(SessionState(), lambda: None),
        uploaded_file_mgr=MemoryUploadedFileManager("/_stcore/upload_file"), main_script_path=main,
        user_info={"email": None}, fragment_storage=MemoryFragmentStorage(), pages_manager=PagesManager(main))
    add_script_run_ctx(threading.current_thread(), ctx)
    return ctx


def warm_pages(keys=None, race: bool = True) -> list[str]:
    """Draw each method page (and the race) once in the calling thread; returns the problems."""
    from peft_edu import METHODS

    ctx = _headless_context()
    problems = []
    for key in keys or list(METHODS):
        t0 = time.perf_counter()
        try:
            ctx.reset(query_string="")
            from ui.method import render_method

            render_method(key)
            LOG.info("warm-up: %s page in %.1f s", key, time.perf_counter() - t0)
        except Exception as err:  # noqa: BLE001 - a warm-up never fails the server
            problems.append(f"{key}: {type(err).__name__}: {err}")
    if race:
        try:
            from ui.compare_state import race_one

            for key in METHODS:
                race_one(key, False)
        except Exception as err:  # noqa: BLE001
            problems.append(f"compare race: {type(err).__name__}: {err}")
    return problems


def warm_lab(timeout_s: float = 300.0) -> list[str]:
    """Queue the lab's shared head-only baseline (``ui.lab.baseline``) and wait for it (~9 s of
    training, in the lab's queue at the training threads' lower priority); returns the problems.

    The first learner's results then compare with it at once, and no learner's run waits behind
    it. It is also the server's first training run: the one-off memory of that (torch's thread
    pools, the allocator's arenas: ~105 MB, measured) is taken before the class arrives, not
    during it."""
    from streamlit.runtime.scriptrunner_utils.exceptions import StopException

    try:
        from ui.lab.baseline import start_baseline

        job = start_baseline()
        if not job.wait(timeout_s):
            return [f"lab baseline: not finished after {timeout_s:.0f} s"]
        view = job.view()
        return [] if view.status == "done" else [f"lab baseline: {view.status} {view.message}".strip()]
    except (Exception, StopException) as err:  # noqa: BLE001 - a warm-up never fails the server
        return [f"lab baseline: {type(err).__name__}: {err}"]  # (StopException: the model is missing)


def _run() -> None:
    from peft_edu.viz import load_pandas
    from ui.guide import path

    load_pandas()  # before any figure or import that needs it (peft_edu/viz/__init__.py)
    t0 = time.perf_counter()
    from peft_edu import METHODS

    first = [name for name, _ in path() if name in METHODS]  # the guided path's pages first
    order = first + [k for k in METHODS if k not in first]
    problems = warm_pages(order) + warm_lab()
    seconds = time.perf_counter() - t0
    perf.freeze_heap()  # what the warm-up filled lives as long as the server: out of full collections
    with _LOCK:
        _STATE.update(done=True, seconds=round(seconds, 1), problems=problems)
    print(f"PEFT Lab: warm-up finished in {seconds:.1f} s ({len(order)} method pages, the Compare race and "
          "the lab's baseline" + (f"; problems: {'; '.join(problems)}" if problems else "") + ")", flush=True)
