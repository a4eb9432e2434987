"""The lab's live panel: progress, ETA, step metrics and curves of this session's runs.

UI only. ``render_live()`` is wrapped in ``st.fragment(run_every=...)`` by the page while a
run of this session is queued or running: it reads ``peft_edu.lab.jobs`` snapshots and redraws;
the training itself runs in the jobs' threads. Ended runs come from the store
(``ui.lab.keep``), so their curves stay after a refresh or a restart.
"""
from __future__ import annotations

import streamlit as st

from peft_edu.lab import jobs
from peft_edu.lab.run_config import HEAD_ONLY
from peft_edu.device import best_device, device_label
from peft_edu.viz.style import fmt_int
from peft_edu.viz.training import series_of, training_curves
from ui.charts import chart
from ui.lab import keep

REFRESH_S = 1.5  # seconds between redraws while a run is active
state = st.session_state


def session_jobs() -> list:
    return state.setdefault("lab_jobs", [])


def active(views) -> bool:
    return any(v.status in (jobs.QUEUED, jobs.RUNNING) for v in views)


def trainable_count(view) -> tuple[int, int] | None:
    """(trainable, total) of a run's model, as counted by the run once it is built."""
    return (view.trainable, view.total) if view.trainable else None


def _fmt_step(seconds: float) -> str:
    return f"{1000 * seconds:,.0f} ms" if seconds < 1 else f"{seconds:,.1f} s"


def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:,.0f} s" if seconds < 120 else f"{seconds / 60:,.1f} min"


def render_running(view, base) -> None:
    """Progress bar with ETA and the run's step metrics."""
    last = view.metrics[-1] if view.metrics else None
    text = (f"**{view.label}** — step {last.step:,} of {last.steps:,} · about {_fmt_s(view.eta_s)} left"
            if last else f"**{view.label}** — preparing its copy of the model…")
    st.progress(view.progress, text=text)
    counts = trainable_count(view)
    head_only = view.cfg.method == HEAD_ONLY
    cols = st.columns(4)
    cols[0].metric("Trainable", fmt_int(counts[0]) if counts else "—",
                   f"{100 * counts[0] / counts[1]:.2f}%" if counts else None, delta_color="off",
                   help=("Only the classifier head trains. " if head_only else "")
                   + (f"Trainable parameters; the percentage is their share of all {fmt_int(counts[1])}."
                      if counts else "Counted once the run's copy of the model is built."))
    cols[1].metric("Step time", _fmt_step(last.step_time) if last else "—",
                   help="Forward, backward and optimizer step of the last batch.")
    cols[2].metric("Server memory", f"{last.peak_memory_bytes / 1e6:,.0f} MB" if last else "—",
                   help="On a GPU: memory allocated by PyTorch. On a CPU: resident memory of the whole app process "
                        "(every session and cached model too). The run's own memory — weights, gradients, "
                        "optimizer state and saved activations, counted tensor by tensor — is in the results "
                        "table when it ends.")
    device = view.device or best_device().type  # the run's own device once it has started
    cols[3].metric("Device", "GPU" if device == "cuda" else "CPU", help=device_label(device))
    if last:
        evals = [m for m in view.metrics if m.test_acc is not None]
        subset = (f"its first {view.cfg.eval_examples:,} texts" if view.cfg.eval_examples else "all of it")
        scored = (f"last test accuracy {100 * evals[-1].test_acc:.1f}% at step {evals[-1].step:,}" if evals
                  else "no test accuracy yet")
        st.caption(f"Training loss now {last.loss:.3f}; {scored}. The test split is scored on {subset} every "
                   f"{view.cfg.eval_every:,} steps, and in full once at the end (the result below).")


def render_status(view, base) -> None:
    if view.status == jobs.RUNNING:
        render_running(view, base)
    elif view.status == jobs.QUEUED:
        st.info(f"**{view.label}** is waiting: {queue_text(view)}. The app trains {jobs.max_runs()} run(s) "
                "at a time for all its users.", icon=":material/schedule:")


def queue_text(view) -> str:
    """'place 2 in the queue · about 35 s until it starts' (from ``jobs.expected_wait_s``)."""
    place = view.queue_position
    if not place:
        return "about to start"
    wait = f" · about {_fmt_s(view.wait_s)} until it starts" if view.wait_s is not None else ""
    return f"place {place:,} in the queue{wait}"


def stop_mine() -> None:
    for job in session_jobs():
        job.stop()


def render_chart(views, baseline: float | None) -> None:
    runs = [series_of(v.label, v.cfg.method, v.metrics) for v in views if v.metrics]
    fig = training_curves(runs, baseline=baseline,
                          title="Training loss and test accuracy of this session's runs")
    chart(fig, key="lab_curves")


def render_live(base, baseline_fn) -> None:
    """The fragment body: status of active runs, Stop, curves; a full rerun when a run ends
    (once its results are kept in the store)."""
    saved = keep.kept_runs()
    kept = keep.kept_views(saved)
    live = [job.view() for job in keep.live_jobs(saved)]
    views = kept + live
    running = [v for v in live if v.status in (jobs.QUEUED, jobs.RUNNING)]
    for view in running:
        render_status(view, base)
    if running:
        st.button("Stop", on_click=stop_mine, key="lab_stop", icon=":material/stop_circle:",
                  help="Stops this session's running run after its current step and cancels the queued ones.")
    render_chart(views, baseline_fn())
    finished = {v.id for v in kept}
    if finished - state.setdefault("lab_seen_finished", set()):
        state["lab_seen_finished"] = finished
        st.rerun()  # redraw the whole page: results table, Try it, download
