"""Parameter & memory calculator: trainable parameters and training memory of every method
on real model sizes; the whole configuration lives in the URL so it can be shared.

UI only: configuration and validation in ``peft_edu.sizing.config``, numbers in
``peft_edu.sizing.estimate`` (counts from ``peft_edu.count``), figures and the table in
``peft_edu.viz.calculator``, widget state <-> URL in ``ui.calculator_state``.
"""
from __future__ import annotations

import dataclasses

import streamlit as st

from ui.charts import chart
from ui.calculator_help import TERMS, paper_note, weights_table
from ui.calculator_state import BOUNDS, P, fix_inputs, load_url, model_changed, pulled, save
from peft_edu import METHODS
from peft_edu.sizing.config import ARCHS, CUSTOM, DEFAULT, TARGETS, CalcConfig
from peft_edu.sizing.estimate import (base_weight_bytes, estimate, fused_qkv_counts, knob_fields, layer_counts,
                                      paper_of, takes_targets, wide_rank)
from peft_edu.sizing.memory import GPU_SIZES_GB
from peft_edu.models import preset, preset_names
from peft_edu.viz.calculator import memory_chart, one_layer_chart, results_table, trainable_chart
from peft_edu.viz.style import fmt_bytes, fmt_int


# ---------------------------------------------------------------- inputs
def number(field: str, label: str, **kw) -> None:
    low, high = BOUNDS[field]
    st.number_input(label, min_value=low, max_value=high, key=P + field, **kw)


def model_inputs() -> None:
    st.subheader("Model")
    st.selectbox("Preset or custom dimensions", [*preset_names(), CUSTOM], key=P + "model",
                 format_func=lambda m: "Custom dimensions…" if m == CUSTOM else m, on_change=model_changed)
    if st.session_state[P + "model"] != CUSTOM:
        st.caption(preset(st.session_state[P + "model"])["source"])
        return
    st.selectbox("Architecture", list(ARCHS), key=P + "arch", format_func=lambda a: ARCHS[a][0])
    a, b = st.columns(2)
    with a:
        number("layers", "Layers L")
        number("heads", "Attention heads")
        number("ffn", "FFN size f")
    with b:
        number("hidden", "Hidden size d")
        number("kv_heads", "Key/value heads", disabled=st.session_state[P + "arch"] != "llama",
               help="Fewer than the heads = grouped-query attention (Llama style only).")
        number("vocab", "Vocabulary V")


def method_inputs() -> None:
    """The methods, then an input for every knob of a chosen method (its Config's fields)."""
    st.subheader("Methods and knobs")
    st.multiselect("Methods", list(METHODS), key=P + "methods", format_func=lambda k: METHODS[k].name)
    chosen = st.session_state[P + "methods"]
    knobs = knob_fields(chosen)
    if "r" in knobs:
        st.slider("Rank r (LoRA family)", *BOUNDS["r"], key=P + "r")
    if "alpha" in knobs:
        number("alpha", "alpha (scaling alpha / r; changes no count)", step=1.0)
    if takes_targets(chosen):
        st.checkbox("All linear layers (peft's all-linear)", key=P + "all_linear")
        st.multiselect("Target matrices", TARGETS, key=P + "targets", disabled=st.session_state[P + "all_linear"],
                       format_func=lambda t: {"mlp": "MLP (all FFN projections)"}.get(t, f"W{t}"))
    if "vera_r" in knobs:
        number("vera_r", "VeRA rank (shared random A, B)")
    if "n_tokens" in knobs:
        number("n_tokens", "Virtual tokens n")
    if "bottleneck" in knobs:
        number("bottleneck", "Adapter bottleneck m")
    if "ratio" in knobs:
        number("ratio", "LoRA+ ratio lr(B) / lr(A)", step=1.0)


def training_inputs() -> None:
    st.subheader("Training")
    st.radio("Weight precision", [32, 16], key=P + "bits", horizontal=True,
             format_func=lambda b: {32: "32-bit (fp32)", 16: "16-bit mixed (bf16)"}[b],
             help="QLoRA always keeps its frozen base in NF4 (4-bit) with bf16 compute.")
    st.checkbox("QLoRA double quantization", key=P + "double_quant")
    number("batch", "Batch size b")
    number("seq", "Sequence length s (tokens)", step=128)
    st.checkbox("Gradient checkpointing", key=P + "checkpointing")


# ---------------------------------------------------------------- results
def paper_notes(config: CalcConfig, rows) -> None:
    for r in rows:
        paper = paper_of(config, r.method)
        if paper is not None:
            st.info(paper_note(r, config.model, paper), icon=":material/menu_book:")


def fused_qkv_note(config: CalcConfig) -> None:
    """What a fused q/k/v layer (GPT-2, GPT-3) really adapts, and the separate-layer count beside it."""
    counts = fused_qkv_counts(config)
    if not counts:
        return
    picked = ", ".join(f"W{t}" for t in counts[0].chosen)
    lines = [f"- **{METHODS[c.method].name}**: {fmt_int(c.fused)} as adapted here; {fmt_int(c.separate)} if "
             f"{picked} were separate layers" + (" — the same number, by coincidence" if c.fused == c.separate
                                                  else "") for c in counts]
    st.info(f"**This model fuses q, k and v into one layer** (`c_attn`, d → 3d). Picking {picked} adapts the "
            "whole fused layer, so the counts above are for `c_attn`. Beside them, the count had "
            f"{picked} been separate layers (as in Llama or BERT):\n\n" + "\n".join(lines) + "\n\n"
            "LoRA's two numbers agree for Wq + Wv only because r·(d + 3d) = 2·r·(d + d); a method with a "
            "term per output (DoRA's magnitude, VeRA's scaling vector) or a single projection (Wq alone) "
            "differs.", icon=":material/merge_type:")


def memory_explainers(config: CalcConfig, rows) -> None:
    st.subheader("How each memory term is computed")
    values = {r.name: dict(r.memory.parts(), **{"Adapter file size": r.adapter_bytes}) for r in rows}
    for title, formula, text in TERMS:
        with st.expander(title):
            st.latex(formula)
            st.markdown(text)
            if title in values[rows[0].name]:
                st.markdown(" · ".join(f"{name}: **{fmt_bytes(v[title])}**" for name, v in values.items()))
    st.markdown(weights_table(base_weight_bytes(config)))


def one_layer(config: CalcConfig) -> None:
    st.subheader("One layer")
    a, b, c = st.columns(3)
    with a:
        number("layer_out", "d_out")
    with b:
        number("layer_in", "d_in")
    with c:
        st.slider("r", *BOUNDS["layer_r"], key=P + "layer_r")
    d_out, d_in, r = config.layer_out, config.layer_in, config.layer_r
    if r > min(d_out, d_in):
        st.warning(f"r = {r} is larger than min(d_out, d_in) = {min(d_out, d_in):,}: the update can "
                   "never have that rank, and LoRA then trains more than a low-rank update needs.")
    counts = layer_counts(config)
    for col, (method, n) in zip(st.columns(max(len(counts), 1)), counts.items()):
        col.metric(f"{METHODS[method].name}: trainable", fmt_int(n))
    chart(one_layer_chart(d_out, d_in, r), key=P + "layer_chart", width="stretch")


def computed(config: CalcConfig) -> tuple[CalcConfig, list, dict]:
    """(the configuration shown, its rows, methods left out); a model that cannot be built
    gives a message and the default model instead, never a traceback."""
    with st.spinner("Counting on the meta device…"):
        try:
            return (config, *estimate(config))
        except ValueError as err:  # peft_edu.sizing.estimate turns transformers' config errors into these
            st.error(f"This model cannot be built: {err}. Showing {DEFAULT.model} instead.")
            shown = dataclasses.replace(config, model=DEFAULT.model)
            return (shown, *estimate(shown))


# ---------------------------------------------------------------- page
st.title("Parameter & memory calculator")
st.markdown("How many parameters does each method train, and will training fit on your GPU? "
            "Counts come from the real method modules built on PyTorch's *meta* device (shapes, no "
            "storage); memory from the formulas explained below. **Share this page's URL**: it holds "
            "the whole configuration.")
messages = load_url()
fix_inputs(messages)
for message in messages:
    st.warning(message, icon=":material/warning:")

left, middle, right = st.columns(3)
with left:
    model_inputs()
with middle:
    method_inputs()
with right:
    training_inputs()

config = pulled()
save(config)

shown, rows, problems = computed(config)
if wide_rank(shown):
    st.warning(f"r = {shown.r:,} is not smaller than the hidden size: a low-rank update this wide "
               "trains more parameters than the layers it adapts.", icon=":material/warning:")
for method, why in problems.items():
    st.warning(f"{METHODS[method].name} is left out: {why}.", icon=":material/block:")

if rows:
    st.header("Results")
    st.dataframe(results_table(rows, GPU_SIZES_GB), hide_index=True, key=P + "table")
    notes = [r.note for r in rows if r.note]
    if notes:
        st.caption(" ".join(notes))
    paper_notes(shown, rows)
    fused_qkv_note(shown)
    chart_a, chart_b = st.columns(2)
    with chart_a:
        chart(trainable_chart(rows), key=P + "trainable_chart", width="stretch")
    with chart_b:
        chart(memory_chart(rows, GPU_SIZES_GB), key=P + "memory_chart", width="stretch")
    memory_explainers(shown, rows)
one_layer(config)
