"""Deciding whether to fine-tune: labelled data (quality and quantity) and the base model's
baseline, with a worked example from the lab's own data and recorded runs.

UI only: every number comes from ``peft_edu.lessons.deciding``.
"""
import streamlit as st

from ui.links import link
from peft_edu import METHODS
from peft_edu.lessons.deciding import deciding_example, examples_needed
from peft_edu.viz.style import fmt_int

ex = st.cache_data(max_entries=1, show_spinner=False)(deciding_example)()

st.title("Deciding whether to fine-tune")
st.markdown(
    "Fine-tuning is worth its cost only when two things hold: the base model, used as it is, "
    "falls clearly short of what you need — and you have labelled examples that can close the "
    "gap. Check both **before** you train anything."
)

st.header("1. Measure the baseline first")
st.markdown(
    "Run the base model on **held-out** examples of your task without fine-tuning it: with a good "
    "prompt and a few examples for a generative model, or with only a small classifier head trained "
    "on top of the frozen model (the *head-only* baseline). This number is what fine-tuning has to "
    "beat, measured the same way, on the same held-out examples. If it already meets your quality "
    "bar, stop here: fine-tuning only adds cost."
)

st.header("2. Labelled data: quality before quantity")
st.markdown(
    "- **Quality.** The model learns your labels, mistakes included. Labels that contradict each "
    "other (the same text, two labels) teach noise; wrong test labels cap the accuracy you can "
    "measure. A few hundred to a few thousand clean, consistent examples often beat a larger noisy set.\n"
    "- **Representative.** The examples must look like the real inputs: the same kind of text, every "
    "label present, roughly in the proportions you will meet.\n"
    "- **Quantity.** More clean data helps, and a smaller adapter (fewer trainable parameters) "
    "overfits less when data is scarce.\n"
    "- **Held out.** Keep test examples apart from training, with no copies across the split, or the "
    "score measures memory instead of skill."
)

st.header("3. A worked example: the lab's own task")
labels = ", ".join(f"{fmt_int(n)} {name}" for name, n in ex.train_counts.items())
st.markdown(
    f"The live lab fine-tunes **{ex.model}** to answer “Did City win?” for a sentence about a match. "
    f"Its shipped data set has **{fmt_int(ex.n_train)}** labelled training sentences ({labels}) and "
    f"**{fmt_int(ex.n_test)}** held-out test sentences. Checked here, from the files themselves: "
    f"{fmt_int(ex.conflicts)} texts carry two different labels and {fmt_int(ex.leaked)} test texts "
    "also occur in training — clean, balanced and not leaked."
)
cols = st.columns(3)
cols[0].metric("Always the most frequent label", f"{100 * ex.chance:.1f} %")
cols[1].metric("Head-only baseline (encoder frozen)", f"{100 * ex.baseline:.1f} %",
               help=f"Recorded live-lab run, {ex.baseline_steps} steps: only the classifier head trains.")
cols[2].metric(f"Best fine-tuning run: {METHODS[ex.best_method].name}", f"{100 * ex.best:.1f} %",
               delta=f"{ex.gain_points:+.1f} points",
               help=f"{fmt_int(ex.best_trainable)} trainable parameters, {ex.best_share:.3f} % of the encoder.")
st.markdown(
    f"**The baseline.** The frozen model with a trained head reaches {100 * ex.baseline:.1f} % — on "
    f"{fmt_int(ex.n_test)} test examples that is ±{100 * ex.margin:.1f} points (95 %), so it cannot be "
    f"told apart from always guessing one label ({100 * ex.chance:.1f} %). The mean-pooled sentence "
    "embedding barely sees *who beat whom*: word order decides the answer. There is a real gap.\n\n"
    f"**The data.** {fmt_int(ex.n_train)} clean, balanced examples are enough to close it: "
    f"{METHODS[ex.best_method].name}, training {fmt_int(ex.best_trainable)} parameters "
    f"({ex.best_share:.3f} % of the encoder), reached {100 * ex.best:.1f} %, "
    f"{ex.gain_points:.1f} points above the baseline — far outside the ±{100 * ex.margin:.1f}-point "
    "uncertainty. Here fine-tuning is clearly worth it.\n\n"
    f"**How sure can you be?** Each test example is {ex.points_per_label:.2f} points of accuracy, so a "
    f"single wrong test label moves the score by that much. To measure an accuracy near 50 % within "
    f"±5 points takes about {fmt_int(examples_needed(0.05))} test examples; within ±2 points about "
    f"{fmt_int(examples_needed(0.02))}. A difference smaller than the margin is not a result."
)

st.header("4. The decision, in short")
st.markdown(
    "1. Is the baseline, measured on held-out data, clearly below what you need? If not, do not fine-tune.\n"
    "2. Do you have enough clean, representative labelled examples — and a separate test set large "
    "enough to see the gain? If not, label data first.\n"
    "3. Then fine-tune (start small: LoRA or an even cheaper method), and compare with the baseline "
    "on the same test set, with the same metric. A high training accuracy alone proves nothing."
)
cols = st.columns(2)
with cols[0]:
    link("lab", "Try it in the live fine-tune lab", ":material/science:")
with cols[1]:
    link("quiz", "Check yourself in the quiz", ":material/quiz:")
