"""The lab's finished runs: results table, "Try it", confusion matrix, adapter download.

UI only. Every number comes from a run's ``peft_edu.lab.train.TrainResult`` or from
``peft_edu.lab.metrics`` called on that run's own trained copy of the model.
"""
from __future__ import annotations

import streamlit as st

from peft_edu.registry import METHODS
from peft_edu.lab.run_config import HEAD_ONLY, label
from peft_edu.viz.style import fmt_bytes, fmt_int

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
        "peak memory": fmt_bytes(result.peak_memory_bytes),
        "device": result.device,
    }


def adapter_files(model, method: str, label_names=()) -> tuple[bytes | None, str]:
    """(zip of the adapter directory, note); (None, why not) when there is no adapter."""
    if method == HEAD_ONLY:
        return None, "A head-only run has no adapter: only the classifier head trained."
    if METHODS[method].family == "baseline":  # full fine-tuning
        return None, "Full fine-tuning changed every weight: there is no adapter, the whole model is the result."
    from peft_edu.export import adapter_zip  # imports torch: only when a download is first built

    data = adapter_zip(model, "adapter", label_names)
    spec = METHODS[method]
    if spec.hf_peft_type:
        note = (f"Hugging Face PEFT format ({spec.hf_peft_type}): load it with "
                "`PeftModel.from_pretrained(base_model, 'adapter')` or `peft_edu.load_adapter`.")
    else:
        note = f"PEFT has no {spec.name}: peft_edu's own documented format; load it with `peft_edu.load_adapter`."
    return data, note


def render_download(run_id: str, model, method: str, label: str, label_names=()) -> None:
    """A download button for the run's adapter, built once per run and kept in the session."""
    cache = state.setdefault("lab_adapter_zips", {})
    if run_id not in cache:
        try:
            cache[run_id] = adapter_files(model, method, label_names)
        except (ValueError, OSError) as err:
            cache[run_id] = (None, f"The adapter could not be saved: {err}")
    data, note = cache[run_id]
    if data is None:
        st.info(note)
        return
    st.download_button(f"Download adapter ({fmt_bytes(len(data))}, zip)", data, file_name=f"{label}-adapter.zip",
                       mime="application/zip", key=f"lab_download_{run_id}", icon=":material/download:")
    st.caption(note)


def render_try_it(run_id: str, base, tuned, tokenizer, label_names, max_length: int) -> None:
    """Type a sentence: prediction and probabilities of the base and the fine-tuned model."""
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
    for col, title, probs in ((col_base, "Base model (head not trained)", p_base),
                              (col_tuned, "Fine-tuned", p_tuned)):
        best = max(probs, key=probs.get)
        col.metric(title, best, f"{100 * probs[best]:.1f}% sure", delta_color="off")
    fig = probability_bars(label_names, [p_base[n] for n in label_names], [p_tuned[n] for n in label_names],
                           title=f"Probability of each label for: {text[:60]}{'…' if len(text) > 60 else ''}")
    st.plotly_chart(fig, key=f"lab_try_chart_{run_id}")


def render_confusion(run_id: str, model, tokenizer, test_set, max_length: int) -> None:
    """Confusion matrix of the run's model on the whole test split (computed once per run)."""
    from peft_edu.lab.data import encode_cached
    from peft_edu.lab.train import confusion_matrix
    from peft_edu.viz.training import confusion_figure

    cache = state.setdefault("lab_confusions", {})
    if run_id not in cache:
        enc = encode_cached(tokenizer, test_set, max_length)
        device = next(model.parameters()).device
        cache[run_id] = confusion_matrix(model, enc, len(test_set.label_names), device)
    st.plotly_chart(confusion_figure(cache[run_id], test_set.label_names), key=f"lab_confusion_{run_id}")


def _problems(views) -> None:
    for view in views:
        if view.status in ("diverged", "oom", "failed"):
            st.error(f"**{view.label}**: {view.message}", icon=":material/error:")
        elif view.status in ("stopped", "cancelled") and view.message:
            st.info(f"**{view.label}**: {view.message}", icon=":material/stop_circle:")


def render_table(views, job_data: dict, baseline: float | None) -> None:
    rows = [result_row(v.label, v.cfg.method, v.result, job_data.get(v.id, ("?",))[0])
            for v in views if v.result is not None and v.result.total]
    st.dataframe(rows, hide_index=True, key="lab_results_table")
    if baseline is not None:
        st.caption(f"Head-only baseline (frozen encoder, only the classifier head trains): "
                   f"**{100 * baseline:.1f}%** test accuracy, measured in this app on the same data.")


def render_finished(session_jobs: list, base_model, job_data: dict, baseline_fn) -> None:
    """Results of this session's finished runs; Try it, confusion matrix and download for one."""
    views = [job.view() for job in session_jobs]
    done = [v for v in views if v.result is not None and v.result.model is not None and v.result.total
            and v.status in ("done", "stopped") and v.id in job_data]
    st.subheader("Results of this session")
    _problems(views)
    if not done:
        st.caption("Finished runs appear here: a results table, Try it, the confusion matrix and the adapter.")
        return
    newest_data = job_data[done[-1].id][0]
    render_table(views, job_data, baseline_fn(newest_data))
    labels = {v.id: v.label for v in done}
    run_id = st.selectbox("Run to explore", list(reversed(labels)), format_func=labels.get, key="lab_explore")
    view = next(v for v in done if v.id == run_id)
    _, _, test = job_data[run_id]
    base, tokenizer = base_model(len(test.label_names))
    try_tab, confusion_tab, download_tab = st.tabs(["Try it", "Confusion matrix", "Download adapter"])
    with try_tab:
        render_try_it(run_id, base, view.result.model, tokenizer, test.label_names, view.cfg.max_length)
    with confusion_tab:
        render_confusion(run_id, view.result.model, tokenizer, test, view.cfg.max_length)
    with download_tab:
        render_download(run_id, view.result.model, view.cfg.method, view.label.replace(" ", "_"), test.label_names)
