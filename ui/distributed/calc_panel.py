"""The multi-GPU calculator's inputs and results on the distributed page (UI only)."""
from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

from peft_edu import METHODS
from peft_edu.distributed.formulas import CONVENTIONS, GIB, STAGE_NAMES
from peft_edu.distributed.plan import GPU_SIZES_GB, DistConfig, estimate
from peft_edu.models import preset_names
from peft_edu.sizing.config import ARCHS, CUSTOM, NUMBERS as CALC_NUMBERS, TARGETS
from peft_edu.sizing.estimate import knob_fields, takes_targets
from peft_edu.viz.distributed import per_gpu_chart, stages_chart
from peft_edu.viz.style import fmt_bytes, fmt_int
from ui.charts import chart
from ui.distributed.state import BOUNDS, P

CALC_BOUNDS = {field: (low, high) for field, low, high in CALC_NUMBERS.values()}


def _number(field: str, label: str, bounds=CALC_BOUNDS, **kw) -> None:
    low, high = bounds[field]
    st.number_input(label, min_value=low, max_value=high, key=P + field, **kw)


def model_inputs() -> None:
    st.selectbox("Model", [*preset_names(), CUSTOM], key=P + "model",
                 format_func=lambda m: "Custom dimensions…" if m == CUSTOM else m)
    if st.session_state[P + "model"] != CUSTOM:
        return
    st.selectbox("Architecture", list(ARCHS), key=P + "arch", format_func=lambda a: ARCHS[a][0])
    a, b = st.columns(2)
    with a:
        _number("layers", "Layers L")
        _number("heads", "Attention heads")
        _number("ffn", "FFN size f")
    with b:
        _number("hidden", "Hidden size d")
        _number("kv_heads", "Key/value heads", disabled=st.session_state[P + "arch"] != "llama")
        _number("vocab", "Vocabulary V")


def method_inputs() -> None:
    st.multiselect("Methods", list(METHODS), key=P + "methods", format_func=lambda k: METHODS[k].name)
    chosen = st.session_state[P + "methods"]
    knobs = knob_fields(chosen)
    if "r" in knobs:
        st.slider("Rank r (LoRA family)", *CALC_BOUNDS["r"], key=P + "r")
    if takes_targets(chosen):
        st.checkbox("All linear layers", key=P + "all_linear")
        st.multiselect("Target matrices", TARGETS, key=P + "targets", disabled=st.session_state[P + "all_linear"],
                       format_func=lambda t: {"mlp": "MLP (all FFN projections)"}.get(t, f"W{t}"))
    for field, label in (("vera_r", "VeRA rank"), ("n_tokens", "Virtual tokens n"), ("bottleneck", "Adapter bottleneck m")):
        if field in knobs:
            _number(field, label)


def layout_inputs() -> None:
    _number("n_gpus", "GPUs N", BOUNDS)
    st.selectbox("Sharding (ZeRO stage)", list(STAGE_NAMES), key=P + "stage", format_func=STAGE_NAMES.get)
    a, b, c = st.columns(3)
    with a:
        _number("tp", "Tensor parallel t", BOUNDS)
    with b:
        _number("pp", "Pipeline stages p", BOUNDS)
    with c:
        _number("micro_batches", "Micro-batches m", BOUNDS)
    st.radio("Precision convention", list(CONVENTIONS), key=P + "convention", format_func=lambda k: CONVENTIONS[k].label)
    a, b = st.columns(2)
    with a:
        _number("batch", "Micro-batch per GPU b")
    with b:
        _number("seq", "Sequence length s", step=256)
    st.checkbox("Gradient checkpointing", key=P + "checkpointing")


def results_table(rows, config: DistConfig) -> pd.DataFrame:
    out = []
    for r in rows:
        row = {"Method": r.name, "Trainable Φ": fmt_int(r.trainable), "Weights": fmt_bytes(r.states.weights),
               "Gradients": fmt_bytes(r.states.gradients), "Optimizer": fmt_bytes(r.states.optimizer),
               "Activations": fmt_bytes(r.activations), "Total per GPU": fmt_bytes(r.total_bytes),
               "Data-parallel traffic / step": fmt_bytes(r.dp_bytes)}
        if config.tp > 1:
            row["Tensor-parallel traffic / step"] = fmt_bytes(r.tp_bytes)
        if config.pp > 1:
            row["Pipeline traffic / step"] = fmt_bytes(r.pp_bytes)
            row["Bubble"] = f"{100 * r.bubble:.1f} %"
        row.update({f"{gb} GB": "fits" if r.fits[gb] else "does not fit" for gb in GPU_SIZES_GB})
        out.append(row)
    return pd.DataFrame(out)


def by_stage(config: DistConfig, rows) -> dict[str, list[float]]:
    """Model states per GPU at each stage for the methods on screen (the PEFT lesson in one chart)."""
    out = {r.name: [] for r in rows}
    for stage in range(4):
        staged, _ = estimate(dataclasses.replace(config, stage=stage))
        for r in staged:
            out[r.name].append(r.states.total / GIB)
    return out


def render_results(config: DistConfig) -> None:
    try:
        rows, problems = estimate(config)
    except ValueError as err:
        st.error(f"This model cannot be built: {err}.")
        return
    for method, why in problems.items():
        st.warning(f"{METHODS[method].name} is left out: {why}.", icon=":material/block:")
    if not rows:
        return
    st.caption(f"{config.n_gpus} GPUs = data-parallel {config.dp} × tensor-parallel {config.tp} × pipeline "
               f"{config.pp}; {STAGE_NAMES[config.stage]}; {CONVENTIONS[config.convention].label}.")
    st.dataframe(results_table(rows, config), hide_index=True, key=P + "table")
    per_gpu, stages = _charts(config)
    a, b = st.columns(2)
    with a:
        chart(per_gpu, key=P + "per_gpu_chart", shared=True)
    with b:
        chart(stages, key=P + "stages_chart", shared=True)


@st.cache_resource(max_entries=64, show_spinner=False)
def _charts(config: DistConfig):
    """The two charts of one setting, built once and shared (a page run only sends them)."""
    rows, _ = estimate(config)
    return per_gpu_chart(rows, GPU_SIZES_GB), stages_chart(by_stage(config, rows))


def measurements() -> None:
    """The pure-bf16 single-GPU estimate beside peft's published Llama-3.2-3B peaks."""
    from peft_edu.distributed.measured import comparison

    rows = [{"Run": m.label, "Measured (GiB)": f"{m.gib:.1f}", "Estimate, pure bf16 (GiB)": f"{est:.1f}",
             "Difference": f"{100 * (est / m.gib - 1):+.0f} %"} for m, est in comparison()]
    with st.expander("Held against measurements: Llama-3.2-3B on one GPU (peft's method comparison)"):
        st.dataframe(pd.DataFrame(rows), hide_index=True, key=P + "measured")
        st.caption("Batch 4, sequences of 768 tokens, pure bf16, no checkpointing; the measurement is the "
                   "allocator's reserved peak, which sits a little above what tensors hold. The estimate models "
                   "peft as it ran: the base in bf16 but the adapter's own weights in fp32 (peft's "
                   "autocast_adapter_dtype default), so each adapted layer keeps an fp32 copy of its input "
                   "for A's gradient (+1.5 GiB here), and at the start of backward the loss holds two fp32 "
                   "gradients over the 128,256-word vocabulary at once (1.5 GiB each).")
