"""Home: what fine-tuning is, why full fine-tuning of an LLM is out of reach, what PEFT changes."""
import streamlit as st

from ui.charts import chart
from ui.guide import render_path
from ui.links import link
from peft_edu import METHODS
from peft_edu.sizing.memory import GB, full_finetune_bytes
from peft_edu.viz import pandas_gate
from peft_edu.viz.style import fmt_int
from peft_edu.viz.timeline import methods_timeline

st.title("PEFT Lab")
st.markdown(
    "#### Learn how large language models are fine-tuned *efficiently* — "
    "with real layers, real counts and real training runs."
)

st.header("What is fine-tuning?")
st.markdown(
    "A pretrained language model has learned general knowledge of language from a huge "
    "amount of text. **Fine-tuning** continues training it on a small, labelled dataset for "
    "*your* task — classifying support tickets, answering in a house style, following "
    "instructions — so that its weights adapt to that task."
)

st.header("Why full fine-tuning is out of reach")
n_params = st.select_slider(
    "Model size (parameters)",
    options=[125_000_000, 1_300_000_000, 7_000_000_000, 13_000_000_000, 70_000_000_000],
    value=7_000_000_000,
    format_func=lambda n: f"{n / 1e9:g} B",
    key="home_model_size",
)
mem = full_finetune_bytes(n_params)
cols = st.columns(5)
for col, (label, value) in zip(
    cols,
    [
        ("Weights (16-bit)", mem.weights),
        ("Gradients (16-bit)", mem.gradients),
        ("Master copy (32-bit)", mem.master),
        ("Adam states (2 × 32-bit)", mem.adam_states),
        ("Total, before activations", mem.total),
    ],
):
    col.metric(label, f"{value / GB:,.0f} GB")
st.markdown(
    f"Training all **{fmt_int(n_params)}** weights with the AdamW optimizer in mixed precision "
    f"needs about 16 bytes per parameter — **{mem.total / GB:,.0f} GB** before a single "
    "activation is stored. The largest single GPUs hold 80–141 GB, so this needs a cluster, "
    "and every fine-tuned task is another full copy of the model on disk."
)

st.header("What PEFT changes")
st.markdown(
    "**Parameter-efficient fine-tuning** keeps the pretrained weights **frozen** and trains "
    "only a tiny set of new or selected parameters — often less than 1 % of the model. "
    "Frozen weights need no gradients and no optimizer states, so memory falls sharply; the "
    "trained part is a small file you can swap per task; and with little data, training "
    "fewer parameters overfits less. The methods differ in *what* they train: low-rank "
    "updates of weight matrices (LoRA and its family), quantized frozen weights (QLoRA), "
    "learned virtual tokens (prompt and prefix tuning), small inserted layers (adapters) or "
    "learned scaling vectors ((IA)³)."
)

st.header(f"{len(METHODS)} methods, one timeline")
with pandas_gate():  # a new server's first page does not wait for pandas (peft_edu/viz/__init__.py)
    chart(methods_timeline(), key="home_timeline", width="stretch")
st.caption("Each marker is one paper; hover for its title. Open a method below.")
link_cols = st.columns(4)
for i, key in enumerate(METHODS):
    spec = METHODS[key]
    with link_cols[i % 4]:
        link(key, f"{spec.name} ({spec.year})")

st.header("Where to start: the guided path")
st.markdown("New to fine-tuning? Follow these pages in order; each ends with a link to the next. "
            "Already know LoRA? Jump to any method above, or straight to the live lab.")
render_path()
