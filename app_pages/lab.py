"""Live fine-tune lab: fine-tune all-MiniLM-L6-v2 with any method, watch it learn, race methods.

UI only. Training runs in ``peft_edu.lab.jobs`` background threads (one process-wide queue);
this script submits and stops jobs, and an ``st.fragment(run_every=...)`` redraws their
metrics. Runs belong to the learner (``ui.lab.keep``): a refresh reattaches to runs still queued
or training, and every ended run is kept in the store (curves, results, confusion, adapter).
"""
import uuid

import streamlit as st

from ui.lab import keep, url
from ui.lab.baseline import base_model, baseline_accuracy, baseline_model, start_baseline
from ui.lab.data import choose_data
from ui.lab.knobs import choose_method, method_label, render_knobs
from ui.lab.live import REFRESH_S, active, render_live, session_jobs
from ui.lab.results import render_finished
from peft_edu import METHODS
from peft_edu.lab import jobs
from peft_edu.lab.data import BUILTIN_NAME
from peft_edu.lab.run_config import METHOD_CHOICES, defaults

MAX_KEPT = 10  # runs a session keeps (their trained models: the newest jobs.keep_models())
state = st.session_state
learner_id = keep.attach()  # the learner's jobs.Owner and live jobs: the same in every tab, after a refresh
state.setdefault("lab_baseline_auto", True)  # measure the head-only baseline with the first run


def submit(cfg, data, label_text: str | None = None, race: str | None = None) -> bool:
    """Queue one run; False (and the reason on the page, the settings untouched) if it cannot start."""
    name, train, test = data
    base, tokenizer = base_model(len(train.label_names))
    try:
        job = keep.submit(cfg, data, base, tokenizer, label_text, race=race)
    except jobs.LimitError as err:  # the teacher's limits: say which, start nothing
        st.warning(str(err), icon=":material/hourglass_top:")
        return False
    except ValueError as err:  # an invalid setting: say which, start nothing
        st.error(f"This run cannot start: {err}", icon=":material/error:")
        return False
    session_jobs().append(job)
    state.setdefault("lab_job_data", {})[job.id] = data  # (name, train, test): for Try it and the confusion matrix
    while len(session_jobs()) > MAX_KEPT:
        old = session_jobs().pop(0)
        jobs.forget(old)
        state["lab_job_data"].pop(old.id, None)
    if name == BUILTIN_NAME and state["lab_baseline_auto"]:
        start_baseline()
    return True


def start_race(methods: list[str], budget, data) -> bool:
    """One run per method, each with its own defaults and the same steps, batch size, model dropout and seed:
    one entry of the learner's (checked whole before its first run is queued)."""
    try:
        jobs.check_entry(learner_id, steps=budget.steps, runs=len(methods))
    except jobs.LimitError as err:
        st.warning(str(err), icon=":material/hourglass_top:")
        return False
    race = len({run.race for run in keep.kept_runs() if run.race}) + 1  # "Race n": counted from the kept races
    race_id = f"race-{uuid.uuid4().hex[:12]}"
    for method in methods:
        cfg = defaults(method, steps=budget.steps, batch_size=budget.batch_size, seed=budget.seed,
                       model_dropout=budget.model_dropout)
        if not submit(cfg, data, f"Race {race} · {jobs.default_label(cfg)}", race=race_id):
            return True  # what was queued before the refusal runs (another tab raced this one)
    return True


st.title("Live fine-tune lab")
st.caption("Fine-tune a real pretrained transformer — all-MiniLM-L6-v2 (BERT architecture, 6 layers, "
           f"22.7M parameters) — on a sentence-classification task with any of the {len(METHODS)} methods, "
           "and watch the training loss and the test accuracy live.")

left, right = st.columns([1, 2], gap="large")
with left:
    url.load_url()  # ?data=...&method=...&r=...: a shared link sets the data choice and the recipe up
    st.subheader("Data")
    data = choose_data()
    st.subheader("Recipe")
    method = choose_method()
    cfg = render_knobs(method)
    url.save_url(cfg)
    busy = active([job.view() for job in session_jobs()])
    rule = jobs.limits()
    if st.button("Start", type="primary", key="lab_start", icon=":material/play_arrow:",
                 help="Queues a run with this recipe; it starts when a training slot is free. "
                      f"Your teacher allows {rule.runs_per_learner} run(s) or race(s) of yours at a time."):
        busy = submit(cfg, data) or busy
    with st.expander("Race: several methods, same budget"):
        st.caption(f"Each method with its default knobs, all with {cfg.steps:,} steps of batch "
                   f"{cfg.batch_size}, model dropout {cfg.model_dropout:g} and seed {cfg.seed}; their curves are "
                   f"overlaid. A race counts as one of your runs; your teacher allows up to {rule.max_race} methods in it.")
        race = st.multiselect("Methods", METHOD_CHOICES, default=["lora", "ia3", "prompt_tuning"][: rule.max_race],
                              format_func=method_label, key="lab_race_methods", max_selections=rule.max_race)
        if st.button("Start race", key="lab_race", disabled=not race, icon=":material/sports_score:"):
            busy = start_race(race, cfg, data) or busy

with right:
    st.subheader("Training")
    if not session_jobs() and not keep.kept_runs():
        st.info("Choose a method and press **Start**. Runs are queued: the app trains "
                f"{jobs.max_runs()} at a time for all its users.", icon=":material/info:")
    base = base_model(len(data[1].label_names))[0]
    live = st.fragment(run_every=REFRESH_S if busy else None)(render_live)
    live(base, lambda: baseline_accuracy(data[0]))

render_finished(keep.kept_runs(), base_model, baseline_accuracy, baseline_model)
