"""Method lessons beyond the LoRA family: QLoRA, soft prompts, adapters, (IA)³, full fine-tuning.

UI only; one function per method, named by its registry key (found by ``ui.lessons``). Runs and measurements come from
``peft_edu.lessons`` (cached with st.cache_resource), figures from ``peft_edu.viz``.
"""
from __future__ import annotations

import streamlit as st

from peft_edu import METHODS
from peft_edu.lessons import blocks, costs, quantization, virtual_tokens
from peft_edu.sizing.memory import nf4_bits_per_weight
from peft_edu.viz import costs as cost_figs
from peft_edu.viz import structure
from peft_edu.viz.style import fmt_bytes, fmt_int
from ui.charts import chart, figure


_nf4 = st.cache_resource(max_entries=1, show_spinner=False)(quantization.nf4_lesson)
_animated_nf4 = st.cache_resource(max_entries=1, show_spinner=False)(quantization.animated_base)
_paged = st.cache_resource(max_entries=1, show_spinner=False)(quantization.paged_optimizer)


@st.cache_resource(max_entries=1, show_spinner=False)
def _weight_memory():
    return [quantization.weight_memory(m) for m in quantization.MEMORY_PRESETS]


@st.cache_resource(max_entries=16, show_spinner=False)
def _flows(n_tokens: int):
    return [virtual_tokens.token_flow(m, n_tokens) for m in virtual_tokens.SOFT_PROMPT]


@st.cache_resource(max_entries=16, show_spinner=False)
def _sizes(n_tokens: int):
    return [virtual_tokens.size_row(m, n_tokens) for m in virtual_tokens.SIZE_PRESETS]


_stages = st.cache_resource(max_entries=16, show_spinner=False)(blocks.block_stages)
_ia3_vectors = st.cache_resource(max_entries=1, show_spinner=False)(blocks.ia3_vectors)


@st.cache_resource(max_entries=2, show_spinner=False)
def _step_bytes(method: str):
    knob = METHODS[method].size_knob  # LoRA at r = 4; full fine-tuning has no size knob
    return costs.step_bytes(method, **({knob: 4} if knob else {}))


_model_cost = st.cache_resource(max_entries=16, show_spinner=False)(costs.model_cost)


def _overhead_figure(n_tokens: int):
    seq, pct = virtual_tokens.sequence_overhead(n_tokens)
    return structure.sequence_overhead_figure(seq, pct, n_tokens)


def _training_memory_figure(*pair):
    return cost_figs.training_memory_figure(list(pair))


# ---------------------------------------------------------------- QLoRA
def qlora() -> None:
    st.subheader("NF4: 16 levels where the weights are")
    with st.spinner("Reading a real weight matrix and quantizing it…"):
        lesson = _nf4()
    if not lesson.weights.real:
        st.warning(f"The pretrained model could not be read, so this lesson uses stand-in weights: "
                   f"{lesson.weights.source}")
    chart(figure(cost_figs.nf4_levels_figure, lesson.normalised, lesson.levels, lesson.weights.source), "lesson_qlora_hist")
    st.markdown(
        "Each block of 64 weights is divided by its largest |w|, so every number lands in [−1, 1]; it is "
        "then stored as the 4-bit index of the nearest level. The levels are quantiles of a normal "
        "distribution (recomputed here from `normal_float_levels()`: max difference "
        f"{abs(lesson.derived_levels - lesson.levels).max():.1e}), so each holds about as many weights.")
    st.subheader("The animation's W₀, as NF4 stores it")
    base = _animated_nf4()
    chart(figure(cost_figs.nf4_codes_figure, base), "lesson_qlora_codes")
    st.markdown(
        f"The frozen W₀ drawn in the animation above ({base.codes.size} weights, "
        f"{len(base.distinct_per_block)} blocks of {quantization.BLOCK}) is stored as one 4-bit code per "
        "weight plus one absmax per block; the layer computes with level[code] × absmax, so each block "
        f"holds at most 16 different values (here: {', '.join(str(n) for n in base.distinct_per_block)}). "
        "Only A and B train, in 16 or 32 bits; the gradient flows through the dequantized W₀.")
    st.subheader("Quantization error, with and without double quantization")
    chart(figure(cost_figs.quant_error_figure, lesson.errors), "lesson_qlora_error")
    st.dataframe([{"scheme": e.label, "bits per weight": f"{e.bits_per_weight:.3f}", "RMSE": f"{e.rmse:.3e}",
                   "mean |error|": f"{e.mean_abs:.3e}", "relative error ‖W−Wq‖/‖W‖": f"{e.relative:.2%}"}
                  for e in lesson.errors], hide_index=True, key="lesson_qlora_table")
    st.markdown(
        f"Double quantization stores the block constants in 8 bits: {nf4_bits_per_weight(False):.3f} → "
        f"{nf4_bits_per_weight(True):.3f} bits per weight, for an error that barely changes.")
    st.subheader("Paged optimizers: surviving memory spikes")
    paged = _paged()
    st.markdown(
        f"QLoRA's third idea (§3). {paged.model} with LoRA r = 64 on every linear layer of the blocks (the "
        f"paper's setup) trains {fmt_int(paged.trainable)} parameters; AdamW keeps two fp32 moments each, "
        f"**{fmt_bytes(paged.adam_bytes)}** of optimizer state. Memory is not flat during training: one long "
        f"example makes a spike (4,096 tokens: fp32 logits and their gradient over the vocabulary are "
        f"**{fmt_bytes(paged.spike_bytes)}**), and a run that fits on average dies of out-of-memory there. "
        "A paged optimizer allocates its states in NVIDIA unified memory: when the GPU is full the driver "
        "moves pages of them to CPU RAM and back when the optimizer step needs them, like an operating "
        "system pages RAM to disk. The spike survives, at the cost of some transfer time in that step. On a "
        "CPU (as this app runs here) nothing is paged: this is a GPU feature (bitsandbytes' "
        "`PagedAdamW`).")
    st.subheader("Memory of the weights: 16-bit vs 4-bit")
    rows = _weight_memory()
    chart(figure(cost_figs.weight_memory_figure, rows), "lesson_qlora_memory")
    st.markdown(
        "Only the blocks' linear weights are stored in NF4; embeddings, norms and the head stay in 16 bits "
        f"(as bitsandbytes does). That is why {rows[0].model}, where {100 * (1 - rows[0].linear / rows[0].n_params):.0f}% "
        "of the parameters lie outside those layers (mostly the embeddings), shrinks far less than "
        f"{rows[-1].model} ({rows[-1].bytes_16 / rows[-1].bytes_nf4:.1f}× smaller).")


# ---------------------------------------------------------------- prompt and prefix tuning
def _soft_prompt_lesson(method: str) -> None:
    st.subheader("Where the virtual tokens enter")
    n = st.slider("virtual tokens n (diagram)", 1, 8, 4, key=f"lesson_{method}_n_diagram")
    flows = _flows(n)
    chart(figure(structure.token_flow_figure, flows), f"lesson_{method}_flow")
    prompt, prefix = flows
    st.markdown(
        f"Measured on the tiny BERT: with prompt tuning every layer attends over {prompt.keys[0]} positions "
        f"and outputs {prompt.queries[0]} (the {n} virtual ones flow through the frozen layers); with prefix "
        f"tuning the {prefix.real_tokens} real tokens attend over {prefix.keys[0]} keys and values in every "
        "layer, of which n are trainable, new in each layer.")
    st.subheader("Their count vs model size and sequence length")
    n_real = st.select_slider("virtual tokens n (counts)", options=(1, 5, 10, 20, 50, 100), value=20,
                              key=f"lesson_{method}_n_count")
    chart(figure(structure.soft_prompt_sizes_figure, _sizes(n_real), n_real), f"lesson_{method}_sizes")
    chart(figure(_overhead_figure, n_real), f"lesson_{method}_overhead")


def prompt_tuning() -> None:
    _soft_prompt_lesson("prompt_tuning")


def prefix_tuning() -> None:
    _soft_prompt_lesson("prefix_tuning")
    st.subheader("The reparametrization MLP, and why it is dropped")
    rows = virtual_tokens.reparametrization_rows()
    st.markdown(
        "Li & Liang (§4.3) found that training the prefixes P directly is unstable: the loss is sensitive "
        "to the learning rate and the start. So they train a small matrix P′ (n × d) and a two-layer MLP "
        "that maps each row of it to all layers' keys and values, P = MLP(P′), and optimise P′ and the MLP. "
        "Once training ends, P is computed once and saved; P′ and the MLP are thrown away, because only P "
        "enters the model. The MLP is a training aid: it adds parameters while training, none afterwards. "
        "(This app trains P directly, as peft's `prefix_projection=False`; its animation above is that run.)")
    st.latex(r"\underbrace{n\,d + (d\,h' + h') + (h'\,L\,2d + L\,2d)}_{\text{while training (MLP width } h')}"
             r"\quad\longrightarrow\quad \underbrace{n\,L\,2d}_{\text{kept}}")
    st.dataframe([{"Model": r.model, "Trainable while training (n = 20, h′ = 512)": fmt_int(r.during),
                   "Kept after training": fmt_int(r.kept), "Ratio": f"{r.during / r.kept:.0f}×"} for r in rows],
                 hide_index=True, key="lesson_prefix_reparam")


# ---------------------------------------------------------------- adapters and (IA)³
def adapter() -> None:
    st.subheader("The bottleneck inside a transformer block")
    m = st.select_slider("bottleneck m", options=(8, 16, 32, 64, 128, 256), value=64, key="lesson_adapter_m")
    stages = _stages("adapter", m)
    chart(figure(structure.block_figure, stages, f"One all-MiniLM-L6-v2 block with Houlsby adapters (m = {m})"),
           "lesson_adapter_block")
    trainable = sum(s.params for s in stages if s.trainable)
    total = sum(s.params for s in stages)
    st.markdown(
        f"Read from the real module tree after `peft_edu.apply(model, 'adapter', bottleneck={m})`: two adapters "
        f"squeeze d = {stages[0].d_out} to m = {m} and back, each with its own skip connection; the layer norms "
        f"train too (paper §2.1). This block trains **{fmt_int(trainable)}** of {fmt_int(total)} parameters "
        f"({100 * trainable / total:.1f}%). Both adapters run in sequence at inference: they cannot be merged.")


def ia3() -> None:
    st.subheader("Three vectors per block")
    stages = _stages("ia3", None)
    chart(figure(structure.block_figure, stages, "One all-MiniLM-L6-v2 block with (IA)³"), "lesson_ia3_block")
    st.subheader("The scaling vectors after a real run")
    with st.spinner("Adapting the tiny BERT with (IA)³…"):
        vec = _ia3_vectors()
    chart(figure(structure.ia3_figure, vec.names, vec.values), "lesson_ia3_vectors")
    st.markdown(
        "Every scale starts at 1 (the model is unchanged). After training, features above 1 are amplified, "
        f"below 1 inhibited; loss {vec.loss[0]:.3f} → {vec.loss[-1]:.3f}. Being element-wise, the vectors fold "
        "into the rows of W_k, W_v and the columns of the FFN down-projection: no inference cost after merging.")


# ---------------------------------------------------------------- full fine-tuning
def full() -> None:
    st.subheader("Everything trains: measured")
    with st.spinner("One real Adam step, full and LoRA…"):
        full, lora = _step_bytes("full"), _step_bytes("lora")
    rows = [{"run": name, "trainable": fmt_int(s.trainable), "of all": fmt_int(s.total),
             "gradient bytes": fmt_int(s.gradient_bytes), "Adam state bytes": fmt_int(s.optimizer_bytes)}
            for name, s in (("full fine-tuning", full), ("LoRA r = 4 (q, v)", lora))]
    st.dataframe(rows, hide_index=True, key="lesson_full_measured")
    st.markdown(
        "Allocated by PyTorch in one step on the tiny BERT (fp32): a gradient of 4 bytes and two Adam "
        "moments of 4 bytes each for **every trainable** parameter — "
        f"{full.gradient_bytes / full.trainable:g} and {full.optimizer_bytes / full.trainable:g} bytes per "
        "parameter. Full fine-tuning pays that for all of them.")
    st.subheader("What it costs on real models")
    model = st.selectbox("Model", costs.COST_PRESETS, index=1, key="lesson_full_model")
    pair = [_model_cost(model, "full"), _model_cost(model, "lora")]
    chart(figure(_training_memory_figure, *pair), "lesson_full_memory")
    c1, c2 = st.columns(2)
    c1.metric("Saved per task, full fine-tuning (16-bit)", fmt_bytes(pair[0].checkpoint_bytes))
    c2.metric("Saved per task, LoRA adapter (16-bit)", fmt_bytes(pair[1].checkpoint_bytes))
