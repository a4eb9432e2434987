"""The real runs on the distributed page: settings, Start/Stop, live progress, measured results.

UI only. A run is a background job of the lab's queue (``jobs.submit_task``) whose task is
``peft_edu.distributed.launch.run``: the page never waits for it; an ``st.fragment`` redraws
its progress every second and the whole page reruns once it has ended.
"""
from __future__ import annotations

import functools

import pandas as pd
import streamlit as st

from peft_edu import METHODS
from peft_edu.distributed.launch import run
from peft_edu.distributed.report import summarize
from peft_edu.distributed.spec import MODELS, SHARDING, RunSpec
from peft_edu.lab import jobs
from peft_edu.viz.distributed import bytes_chart, rank_memory_chart, ring_figure, time_split_chart
from peft_edu.viz.style import fmt_bytes, fmt_int
from ui.charts import chart
from ui import learner

P = "dist_run_"
REFRESH_S = 1.0


def session_jobs() -> list:
    return st.session_state["dist_jobs"]


def spec_from_inputs() -> RunSpec:
    method = st.session_state[P + "method"]
    knob = METHODS[method].size_knob
    options = ((knob, int(st.session_state[P + "size"])),) if knob else ()
    return RunSpec(method=method, options=options, model=st.session_state[P + "model"],
                   sharding=st.session_state[P + "sharding"], steps=int(st.session_state[P + "steps"]))


def label_of(spec: RunSpec) -> str:
    knobs = " ".join(f"{k}={v}" for k, v in spec.options)
    shard = {"none": "DDP", "zero1": "ZeRO-1", "fsdp": "FSDP"}[spec.sharding]
    return f"{METHODS[spec.method].name} {knobs} · {shard} · {spec.model}".replace("  ", " ")


def start() -> None:
    spec = spec_from_inputs()
    st.session_state.setdefault("lab_owner", jobs.Owner())  # shared with the lab: one owner per session
    try:
        job = jobs.submit_task(functools.partial(run, spec), spec, owner=st.session_state["lab_owner"],
                               label_text=label_of(spec), learner=learner.learner_id())
    except jobs.LimitError as err:  # the teacher's per-learner limits
        st.warning(str(err), icon=":material/hourglass_top:")
        return
    session_jobs().append(job)


def stop_mine() -> None:
    for job in session_jobs():
        job.stop()


def inputs() -> None:
    a, b, c = st.columns(3)
    with a:
        st.selectbox("Method (applied with peft_edu.apply)", list(METHODS), index=list(METHODS).index("lora"),
                     key=P + "method", format_func=lambda k: METHODS[k].name)
        knob = METHODS[st.session_state[P + "method"]].size_knob
        if knob:
            st.number_input(f"Size knob {knob}", min_value=1, max_value=64, value=8, key=P + "size")
    with b:
        st.radio("Model", list(MODELS), key=P + "model", format_func=MODELS.get)
    with c:
        st.radio("Optimizer states", list(SHARDING), key=P + "sharding", format_func=SHARDING.get)
        st.slider("Steps", 2, 30, 8, key=P + "steps")
    busy = any(not j.finished for j in session_jobs())
    st.button("Start a 2-process run", on_click=start, type="primary", disabled=busy, key=P + "start",
              icon=":material/play_arrow:", help="Starts 2 worker processes on this machine (127.0.0.1) as a "
              "background job; the page stays usable.")


def live() -> None:
    """The fragment body: the active run's place, progress and Stop; a full rerun when it ends."""
    views = [j.view() for j in session_jobs()]
    for v in views:
        if v.status == jobs.QUEUED:
            place = v.queue_position
            st.info(f"**{v.label}** waits in the queue (place {place or 1}); the app runs {jobs.max_runs()} "
                    "job(s) at a time for all its users.", icon=":material/schedule:")
        elif v.status == jobs.RUNNING:
            last = v.metrics[-1] if v.metrics else None
            text = (f"**{v.label}**: step {last.step} of {last.steps}, loss {last.loss:.3f}, "
                    f"{fmt_bytes(last.sent_bytes)} sent by rank 0 this step" if last
                    else f"**{v.label}**: starting 2 worker processes…")
            st.progress(v.progress, text=text)
    if any(v.status in (jobs.QUEUED, jobs.RUNNING) for v in views):
        st.button("Stop", on_click=stop_mine, key=P + "stop", icon=":material/stop_circle:",
                  help="Ends every worker process of this session's run.")
    finished = {v.id for v in views if v.status in jobs.FINISHED}
    if finished - st.session_state["dist_seen_finished"]:
        st.session_state["dist_seen_finished"] = finished
        st.rerun()


def results() -> None:
    views = [j.view() for j in session_jobs() if j.finished]
    for v in views:
        if v.status != "done":
            st.warning(f"**{v.label}** {v.status}: {v.message}", icon=":material/info:")
    done = [summarize(v.result, v.label) for v in views if v.status == "done" and v.result is not None]
    if not done:
        st.caption("No finished run yet: start one above (about 15-25 s for the MiniLM on 2 CPU cores).")
        return
    st.dataframe(pd.DataFrame([row(s) for s in done]), hide_index=True, key=P + "table")
    hooked = [s for s in done if s.hooked]  # FSDP's own collectives are not counted
    equal = sum(s.sent_bytes == s.formula_bytes for s in hooked)
    st.caption(f"{len(done)} finished run(s) this session; the measured bytes equal the formula in {equal} of "
               f"{len(hooked)} DDP run(s).")
    ratio = _full_over_peft(hooked)
    if ratio:
        st.success(ratio, icon=":material/compress:")
    a, b = st.columns(2)
    with a:
        if hooked:
            chart(bytes_chart({s.label: {"sent": s.sent_bytes, "formula": s.formula_bytes} for s in hooked}),
                            key=P + "bytes", width="stretch")
    with b:
        if hooked:
            chart(time_split_chart({s.label: {"compute_s": s.compute_s, "comm_s": s.comm_s} for s in hooked}),
                            key=P + "times", width="stretch")
    latest = done[-1]
    a, b = st.columns(2)
    with a:
        if hooked:
            ring = hooked[-1]
            chart(ring_figure(ring.chunks, ring.world_size), key=P + "ring", width="stretch")
    with b:
        chart(rank_memory_chart(latest.held, latest.formula_held, f"What each rank holds<br><sup>{latest.label}</sup>"),
                        key=P + "held", width="stretch")


def row(s) -> dict:
    """One line of the runs table: measured beside the formula (DDP runs; FSDP's traffic is not hooked)."""
    sent = fmt_bytes(s.sent_bytes) if s.hooked else "not counted (FSDP)"
    same = ("yes" if s.sent_bytes == s.formula_bytes else "no") if s.hooked else "—"
    return {"Run": s.label, "Trainable Φ": fmt_int(s.trainable), "Sent per step (measured)": sent,
            "2(N−1)/N·Φ·4 B": fmt_bytes(s.formula_bytes), "Equal": same, "Step (ms)": f"{1e3 * s.step_s:,.0f}",
            "Communication (ms)": f"{1e3 * s.comm_s:,.1f}" if s.hooked else "—",
            "Held per rank (measured)": fmt_bytes(sum(s.held[0].values())),
            "Held per rank (formula)": fmt_bytes(sum(s.formula_held.values())), "Whole run (s)": f"{s.wall_s:,.1f}"}


def _full_over_peft(done) -> str:
    """'Full fine-tuning sent N× more than ...' when the session has a run that trains everything."""
    full = [s for s in done if s.trainable == s.total]
    peft = [s for s in done if s.trainable < s.total]
    if not full or not peft:
        return ""
    f, p = full[-1], peft[-1]
    return (f"{f.label} all-reduced {f.sent_bytes / max(p.sent_bytes, 1):,.0f}× the bytes of {p.label} per step "
            f"({fmt_bytes(f.sent_bytes)} against {fmt_bytes(p.sent_bytes)}): only trainable values travel.")


def render() -> None:
    inputs()
    busy = any(not j.finished for j in session_jobs())
    st.fragment(run_every=REFRESH_S if busy else None)(live)()
    results()
