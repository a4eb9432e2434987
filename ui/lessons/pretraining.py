"""Why LoRA is not used for pre-training — the experiment, drawn: ``experiment(prefix)``.

UI only. The six pre-training runs come from ``peft_edu.lessons.pretraining`` (the stored
``assets/data/pretraining.json`` when it matches the code, else a fresh ~30–50 s run), cached
with st.cache_resource so every later visitor gets them at once. The LoRA lesson shows it; the
ReLoRA and GaLore lessons end with ``relora_summary()`` / ``galore_summary()``: their finding and
the table, linking here for the curves.
"""
from __future__ import annotations

import streamlit as st

from peft_edu.lessons import pretraining as data
from peft_edu.lessons import pretraining_report as report
from peft_edu.viz import pretraining as figs
from ui.charts import chart, figure, once
from ui.links import link

_experiment = st.cache_resource(max_entries=1, show_spinner=False)(data.experiment)


def _table(exp: data.Experiment):
    """The runs' table as an Arrow table, built once (``once``): a list of dicts would go through
    pandas on every page run."""
    import pyarrow as pa

    return pa.Table.from_pylist(report.table(exp))


def _setup(exp: data.Experiment) -> None:
    b = exp.budget
    st.markdown(
        f"A character-level GPT ({b.n_layers} blocks, width {b.d_model}, {b.n_heads} heads, MLP {b.d_ff}; "
        f"{exp.runs[0].total:,} parameters) starts from the same random weights six times and reads the same "
        f"{b.steps} batches of {b.batch} × {b.context} characters ({b.tokens:,} in all) of a generated text: short "
        "sentences from a fixed word list (`peft_edu.lessons.charlm.corpus`). The held-out loss is measured on "
        "text from another seed of the generator. In every run the embeddings, LayerNorms and head train in "
        "full, as in the ReLoRA and GaLore papers; the methods differ in how the attention and MLP weights "
        "(q, k, v, o, up, down) learn. Each run has its own peak learning rate, the best of a sweep.")


def experiment(prefix: str) -> None:
    """The whole experiment: loss curves, ranks of W − W0, memory, and the findings in words."""
    st.subheader("Why LoRA is not used for pre-training")
    with st.spinner("Pre-training six tiny language models from random weights (under a minute, once)…"):
        exp = _experiment()
    _setup(exp)
    chart(figure(figs.loss_figure, exp), f"{prefix}_pretrain_loss")
    st.caption("Training loss: the mean of the batches since the last point. Held-out loss: on text the "
               "model never trained on.")
    findings = once(report.conclusions, exp)
    st.markdown(findings[0])
    layers = list(exp.runs[0].spectra)
    layer = st.selectbox("Layer whose change W − W₀ is drawn", layers, index=layers.index("blocks.0.mlp.up"),
                         key=f"{prefix}_pretrain_layer")
    chart(figure(figs.spectrum_figure, exp, layer), f"{prefix}_pretrain_spectrum")
    chart(figure(figs.rank_figure, exp), f"{prefix}_pretrain_ranks")
    st.markdown(findings[1])
    chart(figure(figs.memory_figure, exp), f"{prefix}_pretrain_memory")
    for text in findings[2:]:
        st.markdown(text)
    st.dataframe(once(_table, exp), hide_index=True, key=f"{prefix}_pretrain_table")
    st.caption(f"All six runs took {exp.wall_s:.0f} s wall-clock and {exp.cpu_s:.0f} s of CPU on one thread "
               "(`python scripts/make_pretraining.py` regenerates the stored result).")


def _summary(prefix: str, finding) -> None:
    """One finding of the experiment in words and its table (no charts); the curves are on LoRA's page."""
    st.subheader("In pre-training: the experiment on the LoRA page")
    with st.spinner("Pre-training six tiny language models from random weights (under a minute, once)…"):
        exp = _experiment()
    st.markdown(once(finding, exp))
    st.dataframe(once(_table, exp), hide_index=True, key=f"{prefix}_pretrain_table")
    link("lora", label="The whole experiment: loss curves, ranks of W − W₀ and memory (LoRA page)")


def relora_summary() -> None:
    """For ReLoRA's lesson: what its restarts bought in the pre-training experiment."""
    _summary("lesson_relora", report.relora_finding)


def galore_summary() -> None:
    """For GaLore's lesson: its optimizer memory and loss in the pre-training experiment."""
    _summary("lesson_galore", report.galore_finding)
