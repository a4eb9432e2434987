"""The page's recipe, its background runs and the live panel.

UI only. A run is ``peft_edu.embeddings.train.train`` inside a ``peft_edu.lab.jobs`` job (the
lab's queue, slots and Stop); ``render_live`` is wrapped in ``st.fragment(run_every=...)`` by
the page and only reads job snapshots.
"""
from __future__ import annotations

import uuid

import streamlit as st

from peft_edu import METHODS
from peft_edu.embeddings.traps import TRAPS, trap_label, with_traps
from peft_edu.embeddings.train import EmbedConfig, defaults, runnable, train
from peft_edu.lab import jobs
from peft_edu.viz.search import cosine_histograms, loss_curves, projection
from ui.charts import chart
from ui import learner

REFRESH_S = 1.5  # seconds between redraws while a run is active
BATCHES = (4, 16, 32, 64)
state = st.session_state


@st.cache_resource(show_spinner="Loading all-MiniLM-L6-v2…")
def encoder():
    """The shared base encoder and tokenizer: runs copy it, nothing trains it in place."""
    from peft_edu.embeddings.model import load_encoder

    return load_encoder()


def session_jobs() -> list:
    return state["search_jobs"]


def choose_recipe() -> tuple[EmbedConfig, set[str]]:
    """The method and its knobs, and the traps switched on."""
    offered = [k for k in METHODS if runnable(k)]
    method = st.selectbox("Method", offered, index=offered.index("lora"), key="search_method",
                          format_func=lambda k: METHODS[k].name)
    base = defaults(method)
    c1, c2 = st.columns(2)
    steps = c1.number_input("Steps", 2, 400, EmbedConfig().steps, step=10, key="search_steps")
    batch = c2.selectbox("Batch size", BATCHES, index=BATCHES.index(32), key="search_batch",
                         help="Pairs per step; each question's negatives are the other passages of its batch.")
    lr = st.number_input("Learning rate", 1e-6, 0.1, base.lr, format="%.0e", key=f"search_lr_{method}",
                         help=f"{METHODS[method].name}'s lab default is {base.lr:g}.")
    st.markdown("**Traps** — switch one on and compare with a clean run")
    traps = {t.key for t in TRAPS if st.toggle(t.title, key=f"search_trap_{t.key}", help=t.why)}
    return defaults(method, steps=int(steps), batch_size=int(batch), lr=float(lr)), traps


def label_of(cfg: EmbedConfig, traps) -> str:
    return f"{METHODS[cfg.method].name} · {cfg.steps} steps · batch {cfg.batch_size}{trap_label(traps)}"


def submit(cfg: EmbedConfig, traps: set[str], data, race: str | None = None) -> None:
    """Queue one run (the traps applied) on ``data`` = (name, RetrievalSet); it counts against the
    learner's limits (``race``: one of a set submitted together)."""
    name, retrieval = data
    run = with_traps(cfg, traps)
    base, tokenizer = encoder()

    def task(on_metrics, should_stop, on_start):
        return train(run, base, tokenizer, retrieval, on_metrics=on_metrics, should_stop=should_stop,
                     on_start=on_start)

    try:
        job = jobs.submit_task(task, run, owner=state["search_owner"], label_text=label_of(cfg, traps),
                               learner=learner.learner_id(), race=race)
    except jobs.LimitError as err:  # the teacher's per-learner limits
        st.warning(str(err), icon=":material/hourglass_top:")
        return
    except ValueError as err:
        st.error(f"This run cannot start: {err}", icon=":material/error:")
        return
    session_jobs().append(job)
    state["search_job_data"][job.id] = (name, retrieval, frozenset(traps))
    from ui.search.state import MAX_KEPT

    while len(session_jobs()) > MAX_KEPT:
        old = session_jobs().pop(0)
        jobs.forget(old)
        state["search_job_data"].pop(old.id, None)


def submit_trap_set(cfg: EmbedConfig, data) -> None:
    """A clean run and one run per trap, same method, steps and seed: the measured effects (one
    entry of the learner's, like a race in the lab)."""
    try:
        jobs.check_entry(learner.learner_id(), steps=cfg.steps, runs=1 + len(TRAPS))
    except jobs.LimitError as err:
        st.warning(str(err), icon=":material/hourglass_top:")
        return
    race = f"traps-{uuid.uuid4().hex[:12]}"
    submit(cfg, set(), data, race)
    for trap in TRAPS:
        submit(cfg, {trap.key}, data, race)


def active(views) -> bool:
    return any(v.status in (jobs.QUEUED, jobs.RUNNING) for v in views)


def stop_mine() -> None:
    for job in session_jobs():
        job.stop()


def _render_status(view) -> None:
    if view.status == jobs.QUEUED:
        place = view.queue_position
        st.info(f"**{view.label}** is waiting: {f'place {place:,} in the queue' if place else 'about to start'}. "
                f"The app trains {jobs.max_runs()} run(s) at a time for all its users.", icon=":material/schedule:")
        return
    last = view.metrics[-1] if view.metrics else None
    text = (f"**{view.label}** — step {last.step:,} of {last.steps:,} · loss {last.loss:.3f} · "
            f"about {last.eta_s:,.0f} s left" if last else
            f"**{view.label}** — embedding the corpus with the base model…")
    st.progress(view.progress, text=text)


def render_live() -> None:
    """The fragment body: progress, Stop, the loss, the latest probe; a full rerun when a run ends."""
    views = [job.view() for job in session_jobs()]
    running = [v for v in views if v.status in (jobs.QUEUED, jobs.RUNNING)]
    for view in running:
        _render_status(view)
    if running:
        st.button("Stop", on_click=stop_mine, key="search_stop", icon=":material/stop_circle:",
                  help="Stops this session's running run after its current step and cancels the queued ones.")
    curves = [(v.label, [m.step for m in v.metrics], [m.loss for m in v.metrics]) for v in views if v.metrics]
    if curves:
        chart(loss_curves(curves), key="search_loss")
    watched = next((v for v in reversed(views) if any(m.probe for m in v.metrics)), None)
    if watched is not None:
        render_probe(watched)
    finished = {v.id for v in views if v.status in jobs.FINISHED}
    if finished - state["search_seen_finished"]:
        state["search_seen_finished"] = finished
        st.rerun()  # redraw the whole page: metrics table, top-5, downloads


def render_probe(view) -> None:
    """Histograms and 2-D map of the run's latest probe snapshot, the base model's behind."""
    shot = [m.probe for m in view.metrics if m.probe][-1]
    first = view.metrics[0].base_probe
    left, right = st.columns(2)
    with left:
        chart(cosine_histograms(shot.positive, shot.negative, first.positive if first else (),
                                          first.negative if first else (), shot.step), key="search_hist")
    with right:
        chart(projection(shot.query_xy, shot.passage_xy, first.query_xy if first else (),
                                   first.passage_xy if first else (), shot.step), key="search_map")
    st.caption(f"{view.label}: the probe is {len(shot.query_xy)} held-out questions (map) and "
               f"{round(len(shot.positive)):,} pairs (histograms), re-embedded every {view.cfg.probe_every} steps.")
