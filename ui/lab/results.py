"""The lab's finished runs: results table, "Try it", confusion matrix, adapter download.

UI only. Every number comes from a run kept in the store (``ui.lab.keep``): its
``TrainResult`` numbers, the confusion matrix and the adapter zip saved when it ended;
"Try it" uses the run's own trained copy while the server still holds it.
"""
from __future__ import annotations

import streamlit as st

from peft_edu.lab.drift import N_GENERAL
from peft_edu.lab.pareto import own_memory as _own  # the run's tensors at their peak (the Pareto chart's memory)
from peft_edu.lab.run_config import label
from peft_edu.lab.saved import adapter_note, no_adapter_reason
from peft_edu.store.runs import INTERRUPTED
from peft_edu.viz.style import fmt_bytes, fmt_int
from ui.charts import chart
from ui.lab import keep
from ui.lab.pareto import render_pareto

state = st.session_state


def result_row(name: str, method: str, result, data_name: str) -> dict:
    """One row of the results table for a run's ``TrainResult``."""
    acc = result.test_accuracy
    return {
        "run": name,
        "method": label(method),
        "data": data_name,
        "status": result.status,
        "trainable params": fmt_int(result.trainable),
        "% of model": f"{100 * result.trainable / result.total:.3f}%" if result.total else "—",
        "test accuracy": f"{100 * acc:.1f}%" if acc is not None else "—",
        "time (s)": f"{result.seconds:,.1f}",
        "run's memory": fmt_bytes(_own(result)) if _own(result) else "—",
        "of which activations": fmt_bytes(result.memory["activations"]) if result.memory else "—",
        "server memory (peak)": fmt_bytes(result.peak_memory_bytes),
        "drift (1 − cos)": f"{result.drift:.4f}" if result.drift is not None else "—",  # lab.drift; — if not measured
        "device": result.device,
    }


def render_download(run_id: str, method: str, label: str) -> None:
    """A download button for the run's kept adapter zip (saved when the run ended)."""
    data = keep.adapter(run_id)
    if data is None:
        st.info(no_adapter_reason(method) or "This run's adapter was not kept (the run ended without a model).")
        return
    st.download_button(f"Download adapter ({fmt_bytes(len(data))}, zip)", data, file_name=f"{label}-adapter.zip",
                       mime="application/zip", key=f"lab_download_{run_id}", icon=":material/download:")
    st.caption(adapter_note(method))


HEAD_ONLY_TITLE = "Head only (trained head, frozen encoder)"
UNTRAINED_TITLE = "Base model (head not trained)"


def render_try_it(run_id: str, base, tuned, tokenizer, label_names, max_length: int,
                  base_title: str = UNTRAINED_TITLE) -> None:
    """Type a sentence: prediction and probabilities of the reference model (``base_title``) and
    the fine-tuned one."""
    from peft_edu.lab.train import predict
    from peft_edu.viz.training import probability_bars

    text = st.text_input("Type a sentence", key="lab_try_text", max_chars=500,
                         placeholder="e.g. City were beaten 2-0 at home")
    if not text.strip():
        st.caption("Type a sentence and press Enter to see how both models classify it.")
        return
    p_base = predict(base, tokenizer, text, label_names, max_length)
    p_tuned = predict(tuned, tokenizer, text, label_names, max_length)
    col_base, col_tuned = st.columns(2)
    for col, title, probs in ((col_base, base_title, p_base), (col_tuned, "Fine-tuned", p_tuned)):
        best = max(probs, key=probs.get)
        col.metric(title, best, f"{100 * probs[best]:.1f}% sure", delta_color="off")
    fig = probability_bars(label_names, [p_base[n] for n in label_names], [p_tuned[n] for n in label_names],
                           title=f"Probability of each label for: {text[:60]}{'…' if len(text) > 60 else ''}",
                           base_name="head only" if base_title == HEAD_ONLY_TITLE else "base model")
    chart(fig, key=f"lab_try_chart_{run_id}")


def render_confusion(run) -> None:
    """Confusion matrix of the run's model on the whole test split (computed when it ended)."""
    from peft_edu.viz.training import confusion_figure

    if run.confusion is None:
        st.caption("No confusion matrix was kept for this run.")
        return
    chart(confusion_figure(run.confusion, run.label_names), key=f"lab_confusion_{run.id}")


def _problems(views) -> None:
    for view in views:
        if view.status in ("diverged", "oom", "failed"):
            st.error(f"**{view.label}**: {view.message}", icon=":material/error:")
        elif view.status == INTERRUPTED:
            st.warning(f"**{view.label}** was interrupted: {view.message}", icon=":material/restart_alt:")
        elif view.status in ("stopped", "cancelled") and view.message:
            st.info(f"**{view.label}**: {view.message}", icon=":material/stop_circle:")


def render_table(views, data_names: dict, baseline: float | None) -> None:
    rows = [result_row(v.label, v.cfg.method, v.result, data_names.get(v.id, "?"))
            for v in views if v.result is not None and v.result.total]
    st.dataframe(rows, hide_index=True, key="lab_results_table")
    st.caption(f"**drift (1 − cos)**: how far the fine-tuned encoder's sentence embeddings of {N_GENERAL} general "
               "help-desk passages (not your task) moved from the base model's; 0 = unchanged. The lab's stand-in "
               "for forgetting (MiniLM has no masked-language-model head to measure).")
    if baseline is not None:
        st.caption(f"Head-only baseline (frozen encoder, only the classifier head trains): "
                   f"**{100 * baseline:.1f}%** test accuracy, measured in this app on the same data.")


def render_try_tab(run, view, base_model, baseline_model=None) -> None:
    """Try it: the run's model beside the trained head-only baseline on the same data (the fair
    reference: what training only a head on the frozen encoder gets), or, until that baseline
    exists, beside the base with its untrained head."""
    model, data = keep.model_of(run.id), keep.data_of(run.id)
    if model is None or data is None:
        st.info("Try it needs this run's trained model, which the server no longer holds (it keeps your newest "
                "few, and none after a restart). The curves, results, confusion matrix and adapter are kept.",
                icon=":material/info:")
        return
    base, tokenizer = base_model(len(run.label_names))
    reference = baseline_model(run.data_name) if baseline_model is not None else None
    if reference is not None and reference is not model:
        render_try_it(run.id, reference, model, tokenizer, run.label_names, view.cfg.max_length, HEAD_ONLY_TITLE)
        st.caption("The comparison is the head-only baseline: the same encoder, frozen, with only the classifier "
                   "head trained on the same data. On this task it sits near chance because the frozen sentence "
                   "features hardly depend on word order — “City beat United” and “United beat City” use the "
                   "same words and get nearly the same features, yet have opposite labels. Fine-tuning changes "
                   "the encoder itself, so it can learn who did what to whom.")
    else:
        render_try_it(run.id, base, model, tokenizer, run.label_names, view.cfg.max_length)
        st.caption("Compared with the base model and an untrained head (the head-only baseline on this data is "
                   "not trained yet, or the server no longer holds it): its probabilities are near a coin flip.")


def render_finished(saved: list, base_model, baseline_fn, baseline_model=None) -> None:
    """The learner's ended runs (kept in the store): results table, Try it, confusion, adapter."""
    views = keep.kept_views(saved)
    by_id = {run.id: run for run in saved}
    done = [v for v in views if v.result is not None and v.result.total and v.status in ("done", "stopped")]
    st.subheader("Results of this session")
    _problems(views)
    if not done:
        st.caption("Finished runs appear here: a results table, Try it, the confusion matrix and the adapter.")
        return
    data_names = {run.id: run.data_name for run in saved}
    render_table(views, data_names, baseline_fn(data_names[done[-1].id]))
    render_pareto(saved)
    labels = {v.id: v.label for v in done}
    run_id = st.selectbox("Run to explore", list(reversed(labels)), format_func=labels.get, key="lab_explore")
    view, run = next(v for v in done if v.id == run_id), by_id[run_id]
    try_tab, confusion_tab, download_tab = st.tabs(["Try it", "Confusion matrix", "Download adapter"])
    with try_tab:
        render_try_tab(run, view, base_model, baseline_model)
    with confusion_tab:
        render_confusion(run)
    with download_tab:
        render_download(run_id, view.cfg.method, view.label.replace(" ", "_"))
