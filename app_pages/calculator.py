"""Parameter & memory calculator: trainable parameters and training memory of every method
on real model sizes; the whole configuration lives in the URL so it can be shared.

UI only: configuration and validation in ``peft_edu.sizing.config``, numbers in
``peft_edu.sizing.estimate`` (counts from ``peft_edu.count``), figures in ``peft_edu.viz.calculator``.
"""
from __future__ import annotations

import dataclasses

import streamlit as st

from ui.calculator_help import TERMS
from peft_edu import METHODS, layer_params
from peft_edu.sizing.config import (ALL_LINEAR, ARCHS, CUSTOM, DEFAULT, NUMBERS, TARGETS, CalcConfig,
                                 parse_query, to_query, validate)
from peft_edu.sizing.estimate import LOW_RANK, base_weight_bytes, estimate
from peft_edu.sizing.estimate import model_shape as model_shape_of
from peft_edu.sizing.memory import GPU_SIZES_GB
from peft_edu.models import preset, preset_names
from peft_edu.sizing.paper_counts import paper_count
from peft_edu.viz.calculator import memory_chart, one_layer_chart, trainable_chart
from peft_edu.viz.style import fmt_bytes, fmt_int

P = "calculator_"  # session-state prefix of this page
FIELDS = [f.name for f in dataclasses.fields(CalcConfig)]
BOUNDS = {field: (low, high) for field, low, high in NUMBERS.values()}
CUSTOM_DIMS = ("layers", "hidden", "heads", "kv_heads", "ffn", "vocab")


# ---------------------------------------------------------------- state <-> config
def push(config: CalcConfig) -> None:
    """Write a configuration into the widgets' session-state keys (before they render)."""
    for field in FIELDS:
        value = getattr(config, field)
        st.session_state[P + field] = list(value) if isinstance(value, tuple) else value
    st.session_state[P + "all_linear"] = config.targets == (ALL_LINEAR,)
    if config.targets == (ALL_LINEAR,):
        st.session_state[P + "targets"] = list(DEFAULT.targets)


def pulled() -> CalcConfig:
    """The configuration the widgets hold."""
    values = {f: st.session_state.get(P + f, getattr(DEFAULT, f)) for f in FIELDS}
    values["methods"] = tuple(k for k in METHODS if k in values["methods"])
    values["targets"] = tuple(t for t in TARGETS if t in values["targets"])
    if st.session_state.get(P + "all_linear"):
        values["targets"] = (ALL_LINEAR,)
    return CalcConfig(**values)


def load_url() -> list[str]:
    """A URL the page did not write itself (a shared link, a new session) sets the widgets."""
    query = st.query_params.to_dict()
    if P + "config" in st.session_state and query == st.session_state.get(P + "last_query"):
        return []
    if not query and P + "config" in st.session_state:  # back from another page
        push(st.session_state[P + "config"])
        return []
    config, messages = parse_query(query, preset_names())
    push(config)
    return messages


def fix_inputs(messages: list[str]) -> None:
    """Replace what cannot be computed by a fallback, with a message (before widgets render)."""
    config = pulled()
    if not config.methods:
        messages.append(f"Choose at least one method; showing {', '.join(METHODS[m].name for m in DEFAULT.methods)}.")
        config = dataclasses.replace(config, methods=DEFAULT.methods)
    if not config.targets:
        messages.append("Choose at least one target matrix; using q and v.")
        config = dataclasses.replace(config, targets=DEFAULT.targets)
    config, problems = validate(config)
    messages.extend(problems)
    push(config)


def _model_changed() -> None:
    """Switching to custom dimensions starts from the preset that was on screen."""
    if st.session_state[P + "model"] != CUSTOM:
        return
    last = st.session_state.get(P + "config", DEFAULT)
    if last.is_custom:
        return
    shape = model_shape_of(last)
    arch = {"bert": "bert", "roberta": "bert", "gpt2": "gpt2"}.get(preset(last.model)["config"]["model_type"], "llama")
    for field, value in zip(CUSTOM_DIMS, (shape.n_layers, shape.d_model, shape.n_heads, shape.n_kv_heads,
                                          shape.d_ff, shape.vocab)):
        st.session_state[P + field] = int(min(max(value, BOUNDS[field][0]), BOUNDS[field][1]))
    st.session_state[P + "arch"] = arch


# ---------------------------------------------------------------- inputs
def number(field: str, label: str, **kw) -> None:
    low, high = BOUNDS[field]
    st.number_input(label, min_value=low, max_value=high, key=P + field, **kw)


def model_inputs() -> None:
    st.subheader("Model")
    st.selectbox("Preset or custom dimensions", [*preset_names(), CUSTOM], key=P + "model",
                 format_func=lambda m: "Custom dimensions…" if m == CUSTOM else m, on_change=_model_changed)
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
    st.subheader("Methods and knobs")
    st.multiselect("Methods", list(METHODS), key=P + "methods", format_func=lambda k: METHODS[k].name)
    chosen = set(st.session_state[P + "methods"])
    if chosen & set(LOW_RANK) - {"vera"}:
        st.slider("Rank r (LoRA family)", *BOUNDS["r"], key=P + "r")
        number("alpha", "alpha (scaling alpha / r; changes no count)", step=1.0)
    if chosen & set(LOW_RANK):
        st.checkbox("All linear layers (peft's all-linear)", key=P + "all_linear")
        st.multiselect("Target matrices", TARGETS, key=P + "targets", disabled=st.session_state[P + "all_linear"],
                       format_func=lambda t: {"mlp": "MLP (all FFN projections)"}.get(t, f"W{t}"))
    if "vera" in chosen:
        number("vera_r", "VeRA rank (shared random A, B)")
    if chosen & {"prompt_tuning", "prefix_tuning"}:
        number("n_tokens", "Virtual tokens n")
    if "adapter" in chosen:
        number("bottleneck", "Adapter bottleneck m")
    if "lora_plus" in chosen:
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
def results_table(rows) -> list[dict]:
    table = []
    for r in rows:
        c, m = r.counts, r.memory
        other = "Total without ckpt" if r.memory_other.activations > m.activations else "Total with ckpt"
        row = {"Method": r.name, "Trainable": fmt_int(c["trainable"]), "Share of model": f"{c['percent']:.3g} %",
               "Without head": fmt_int(c["trainable_without_head"]), "Adapter file": fmt_bytes(r.adapter_bytes),
               "Weights": fmt_bytes(m.weights), "Gradients": fmt_bytes(m.gradients),
               "Optimizer": fmt_bytes(m.optimizer), "Activations": fmt_bytes(m.activations),
               "Total": fmt_bytes(m.total), other: fmt_bytes(r.memory_other.total)}
        row.update({f"{gb} GB": "fits" if r.fits[gb] else "does not fit" for gb in GPU_SIZES_GB})
        table.append(row)
    return table


def paper_notes(config: CalcConfig, rows) -> None:
    if config.is_custom:
        return
    for r in rows:
        knob = config.vera_r if r.method == "vera" else config.r
        paper = paper_count(config.model, r.method, knob, config.targets)
        if paper is None:
            continue
        ours = r.counts["trainable_without_head"]
        text = (f"**{r.name} on {config.model}: the paper reports {paper.shown}; we count "
                f"{fmt_int(ours)}** ({ours / 1e6:.3g}M, without the task head"
                + (f"; {fmt_int(r.counts['trainable'])} with the trained head, as peft counts it" if
                   r.counts["head_trainable"] else "") + f"). Source: {paper.source}.")
        st.info(text + (f" {paper.note}" if paper.note else ""), icon=":material/menu_book:")


def memory_explainers(config: CalcConfig, rows) -> None:
    st.subheader("How each memory term is computed")
    values = {r.name: dict(r.memory.parts(), **{"Adapter file size": r.adapter_bytes}) for r in rows}
    for title, formula, text in TERMS:
        with st.expander(title):
            st.latex(formula)
            st.markdown(text)
            if title in values[rows[0].name]:
                st.markdown(" · ".join(f"{name}: **{fmt_bytes(v[title])}**" for name, v in values.items()))
    weights = base_weight_bytes(config)
    lines = ["| Storage of the frozen base | Weights |", "|---|---:|"]
    lines += [f"| {k} | {fmt_bytes(v)} |" for k, v in weights.items()]
    st.markdown("\n".join(lines))


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
    cols = st.columns(4)
    for col, method in zip(cols, ("full", "lora", "lora_fa", "dora")):
        n = layer_params(method, d_out, d_in) if method == "full" else layer_params(method, d_out, d_in, r=r)
        col.metric(f"{METHODS[method].name}: trainable", fmt_int(n))
    st.plotly_chart(one_layer_chart(d_out, d_in, r), key=P + "layer_chart", width="stretch")


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
st.session_state[P + "config"] = config
query = to_query(config)
if st.query_params.to_dict() != query:
    st.query_params.from_dict(query)
st.session_state[P + "last_query"] = query

shown, rows, problems = computed(config)
if set(shown.methods) & set(LOW_RANK) and shown.r >= model_shape_of(shown).d_model:
    st.warning(f"r = {shown.r:,} is not smaller than the hidden size: a low-rank update this wide "
               "trains more parameters than the layers it adapts.", icon=":material/warning:")
for method, why in problems.items():
    st.warning(f"{METHODS[method].name} is left out: {why}.", icon=":material/block:")

if rows:
    st.header("Results")
    st.dataframe(results_table(rows), hide_index=True, key=P + "table")
    notes = [r.note for r in rows if r.note]
    if notes:
        st.caption(" ".join(notes))
    paper_notes(shown, rows)
    chart_a, chart_b = st.columns(2)
    with chart_a:
        st.plotly_chart(trainable_chart(rows), key=P + "trainable_chart", width="stretch")
    with chart_b:
        st.plotly_chart(memory_chart(rows, GPU_SIZES_GB), key=P + "memory_chart", width="stretch")
    memory_explainers(shown, rows)
one_layer(config)
