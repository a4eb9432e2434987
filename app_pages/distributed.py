"""From one GPU to many: data, tensor and pipeline parallelism, real torch.distributed runs and a
multi-GPU calculator (memory per GPU under ZeRO / FSDP, with and without PEFT).

UI only: the closed forms and the calculator in ``peft_edu.distributed`` (formulas, plan),
real runs in ``peft_edu.distributed.launch`` (as background jobs), figures in
``peft_edu.viz.distributed``, widgets and URL state in ``ui.distributed``.
"""
from __future__ import annotations

import streamlit as st

from ui.distributed import calc_panel, run_panel
from ui.distributed.state import current, fix_inputs, init_state, load_url, save

init_state()
st.title("From one GPU to many")
st.markdown(
    "A model that trains on one GPU can train on many in four ways: copy it and split the **data** "
    "(DDP), shard its **states** (ZeRO / FSDP), split its **matrices** (tensor parallelism) or its "
    "**layers** (pipeline parallelism). Below, two real worker processes train with `torch.distributed` "
    "on this machine, and a calculator carries any model and method to N GPUs.")

# ---------------------------------------------------------------- real runs
st.header("Data parallelism, for real")
st.markdown(
    "Each rank holds the whole model and gets its own slice of every global batch. After the backward "
    "pass DDP **averages the gradients** of the trainable parameters, so every rank takes the same "
    "optimizer step. Here the average is a ring all-reduce written out with sends and receives, and "
    "every byte it sends is counted: put it beside the formula. The tests check that the gradients "
    "after one DDP step equal one process's on the same global batch (to 10⁻⁶): data parallelism "
    "changes nothing but where the work happens. Switch the optimizer states to ZeRO-1 or FSDP to see "
    "each rank hold its share, measured from its own tensors, beside the formula.")
run_panel.render()

# ---------------------------------------------------------------- how it works
st.header("How the four kinds of parallelism work")
with st.expander("DDP: copies of the model, gradients averaged by a ring all-reduce", expanded=True):
    st.markdown("Over N ranks, a ring cuts the K gradient values into N chunks. In N−1 *reduce-scatter* steps "
                "each rank passes a partial sum to its neighbour, in N−1 *all-gather* steps the finished chunks "
                "go round. Every rank sends (and receives):")
    st.latex(r"\text{bytes per rank} = 2\,\frac{N-1}{N}\,K \cdot \text{bytes per value}")
    st.markdown("— almost independent of N, which is why a ring scales. DDP starts each bucket's all-reduce as "
                "soon as backward has produced it, overlapping communication with compute.")
with st.expander("ZeRO and FSDP: shard what every rank would otherwise repeat"):
    st.markdown("With Ψ parameters of which Φ train, bf16 weights and gradients and k bytes of optimizer state "
                "per trainable parameter (ZeRO, arXiv 1910.02054):")
    st.latex(r"\begin{aligned}\text{DDP}&: 2\Psi + (2+k)\Phi & \text{ZeRO-1}&: 2\Psi + 2\Phi + k\Phi/N\\"
             r"\text{ZeRO-2}&: 2\Psi + (2+k)\Phi/N & \text{ZeRO-3 / FSDP}&: 2\Psi/N + (2+k)\Phi/N\end{aligned}")
    st.markdown("Full fine-tuning is Φ = Ψ: 16Ψ bytes per GPU in mixed precision (k = 12: fp32 master copy "
                "and two fp32 Adam moments), 8Ψ in pure bf16 (k = 4). ZeRO-3 gathers each layer's weights "
                "just before it runs and drops them after: 1.5× DDP's traffic.")
with st.expander("Tensor parallelism: split every matrix (Megatron-LM)"):
    st.markdown("The attention heads and the FFN's columns are split over t GPUs; each block then needs "
                "2 all-reduces of its activations in the forward pass and 2 in the backward. That traffic "
                "grows with batch × sequence × hidden, so t stays inside one server's fast links (NVLink).")
with st.expander("Pipeline parallelism: split the layers (GPipe, 1F1B)"):
    st.markdown("p stages each hold L/p layers; a batch is cut into m micro-batches that flow through. "
                "While the pipeline fills and drains, GPUs idle:")
    st.latex(r"\text{bubble} = \frac{p-1}{m}\ \text{(1F1B)},\qquad \frac{p-1}{v\,m}\ \text{(interleaved, v chunks per stage)}")

# ---------------------------------------------------------------- calculator
st.header("Multi-GPU calculator")
st.markdown("Memory per GPU for any preset or custom model and every method, on N GPUs. Counts come from the "
            "real method modules on PyTorch's meta device (grouped-query attention and the FFN width as the "
            "model has them). **Share this page's URL**: it holds the whole configuration.")
messages = load_url()
config = fix_inputs(messages)
for message in messages:
    st.warning(message, icon=":material/warning:")
left, middle, right = st.columns(3)
with left:
    calc_panel.model_inputs()
with middle:
    calc_panel.method_inputs()
with right:
    calc_panel.layout_inputs()
config, problems = current()  # fixed in the widgets on the next rerun (they cannot change once drawn)
for message in problems:
    st.warning(message, icon=":material/warning:")
save(config)
calc_panel.render_results(config)
calc_panel.measurements()

# ---------------------------------------------------------------- slow
st.header("What makes multi-GPU training slow")
st.markdown(
    "- **Communication against compute.** Every step all-reduces 2(N−1)/N·K·bytes per GPU; when that takes "
    "longer than the backward pass it can hide behind, GPUs wait. The runs above show the split.\n"
    "- **Stragglers.** An all-reduce finishes when the slowest rank arrives: one slow GPU, a busy CPU core "
    "(as on a shared machine) or a long sequence in one rank's slice holds every rank back.\n"
    "- **Small per-GPU batches.** Splitting a fixed global batch over more GPUs shrinks each one's compute "
    "while the gradient bytes stay the same, so the communication share grows.\n"
    "- **Pipeline bubbles and tensor-parallel traffic.** (p−1)/m of idle time; 4 activation all-reduces per "
    "block and step with t > 1, which only fast links keep up with.")

# ---------------------------------------------------------------- PEFT
st.header("What changes with PEFT")
st.markdown(
    "- **Communication shrinks with Φ.** Frozen weights have no gradients: DDP all-reduces only the "
    "trainable values, hundreds of times fewer bytes under LoRA (the runs above measure the ratio).\n"
    "- **ZeRO-1 and -2 buy almost nothing.** They shard gradients and optimizer states, which exist only "
    "for Φ ≪ Ψ. On Llama-2-7B with 8 GPUs, full fine-tuning goes from 100.4 to 23.5 GiB per GPU with "
    "ZeRO-2, LoRA stays at 12.6 GiB.\n"
    "- **Only sharding the frozen weights helps** (ZeRO-3 / FSDP: 1.58 GiB for LoRA there), at the price "
    "of gathering every weight twice per step — frozen ones too.\n"
    "- **Often one GPU is enough**: with a quantized base (QLoRA) many models fit on one card, and data "
    "parallelism is then only for speed.")
