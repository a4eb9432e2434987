"""OFT's lesson: R stays orthogonal and the neurons keep their angles, LoRA's do not.

UI only; the function is named by the method's registry key (found by ``ui.lessons``). The
data come from ``peft_edu.lessons.wave2_oft`` (cached with st.cache_resource), the figure from
``peft_edu.viz.wave2_oft``.
"""
from __future__ import annotations

import streamlit as st

from ui.charts import chart, figure

from peft_edu.lessons import wave2_oft as data
from peft_edu.viz import wave2_oft as figs

_run = st.cache_resource(max_entries=1, show_spinner=False)(data.orthogonality_run)


def oft() -> None:
    st.subheader("A rotation keeps what the neurons know: lengths and angles")
    with st.spinner("Training OFT and LoRA on the toy layer…"):
        s = _run()
    chart(figure(figs.orthogonality_figure, s), "lesson_oft_orthogonality")
    st.markdown(
        f"Two real runs on the toy layer ({s.n_blocks * s.block_size} inputs per neuron), learning rate {s.lr}: "
        f"OFT with {s.n_blocks} blocks of {s.block_size} × {s.block_size} "
        f"(**{s.oft_params}** trainable numbers) and LoRA at r = {s.r} (**{s.lora_params}**). "
        f"**Left:** R turns far from the identity (‖R − I‖ = {s.rotation_size[-1]:.2f} at the end), yet "
        f"‖RᵀR − I‖ never exceeds **{max(s.orth_error):.1e}** — float32 rounding. The Cayley transform "
        "R = (I + S)(I − S)⁻¹ is orthogonal for *every* skew-symmetric S, so Adam can move S freely: no "
        "penalty, no projection. "
        f"**Middle:** each neuron (a row of W) becomes R·w, so every cosine between two neurons stays put: "
        f"OFT's largest change is {max(s.oft_cos_change):.0e} and no neuron's length moves by more than "
        f"{max(s.oft_norm_change):.0e} (relative). LoRA's additive B·A changes cosines by up to "
        f"**{s.lora_cos_change[-1]:.2f}** and lengths by {100 * s.lora_norm_change[-1]:.0f} %. "
        "**Right:** every pair of neurons, cosine at the end against the start: OFT's lie on the diagonal. "
        f"The price is reach: the toy target is an additive shift, not a rotation, so OFT's loss only falls "
        f"from {s.oft_loss[0]:.2e} to {s.oft_loss[-1]:.2e} while LoRA's reaches {s.lora_loss[-1]:.2e}. The "
        "paper's bet is that on a pretrained model the angles between neurons are the knowledge worth keeping.")
