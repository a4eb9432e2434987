"""Compare methods: one table of all methods from the registry, and one task trained with each.

UI only: the table and the runs come from ``peft_edu.lessons.compare``, the figures from
``peft_edu.viz.compare``.
"""
import streamlit as st

from peft_edu import METHODS
from ui import compare_state
from ui.charts import chart, figure
from ui.links import link
from peft_edu.lessons import compare


@st.cache_data(max_entries=1, show_spinner=False)
def _table() -> list[dict[str, str]]:
    return compare.method_table()


def _race(methods: list[str], same_settings: bool) -> dict:
    """Every chosen method's cached run; a progress bar while the first visit trains them."""
    results, bar = {}, None
    for i, key in enumerate(methods):
        if bar is None:
            bar = st.progress(0.0, text="Training each method on the shared task (first visit only)…")
        bar.progress(i / len(methods), text=f"Training {METHODS[key].name}…")
        results[key] = compare_state.race_one(key, same_settings)
    if bar is not None:
        bar.empty()
    return results


st.title("Compare methods")
st.markdown(
    f"All {len(METHODS)} methods side by side: what each trains, how many parameters that is, whether the "
    "update folds into the weights, and what it costs. Below the table, the same small task is "
    "trained with every method."
)

st.header("The methods at a glance")
ROW_HEIGHT = 35  # st.dataframe's row height in pixels: show every method's row without scrolling
table = _table()
st.dataframe(table, hide_index=True, key="compare_table", width="stretch", height=ROW_HEIGHT * (len(table) + 1) + 3,
             column_config={"Trainable count": st.column_config.TextColumn(
                 help="per adapted linear layer (d_out × d_in), or per model for prompt and prefix tuning")})
st.caption("Counts as in each paper; the 1000×1000 column is peft_edu.layer_params with r = 8 (bottleneck "
           "m = 8 for adapters). Prompt and prefix tuning add parameters per model, not per layer.")

st.header("One task, every method")
compare_state.load_url()  # ?methods=...&same=...: a shared link sets the race up
chosen = st.multiselect("Methods to train and overlay", options=list(METHODS), default=list(METHODS),
                        format_func=lambda k: METHODS[k].name, key="compare_methods")
if not chosen:
    st.warning("Choose at least one method to see its loss curve.")
else:
    same = st.toggle("Same settings for all (one learning rate)", key="compare_same_settings",
                     help="Off: each method at its own measured learning rate (the fair race). On: every "
                          f"method at {compare.LR} — see which methods that rate does not suit.")
    compare_state.save_url(chosen, same)
    results = _race(chosen, same)
    sample = next(iter(results.values()))
    race_fig, trainable_fig = compare_state.race_charts(tuple(chosen), same)  # built once per choice
    chart(race_fig, "compare_race", shared=True)
    st.caption(compare.race_caption(len(sample.loss) - 1, same))
    chart(trainable_fig, "compare_trainable", shared=True)
    st.dataframe([{"method": METHODS[k].name, "knobs": ", ".join(f"{a}={v}" for a, v in r.config.items()) or "—",
                   "learning rate": f"{r.lr:g}", "trainable (head excluded)": f"{r.trainable_without_head:,}",
                   "loss at start": f"{r.loss[0]:.3f}", "loss at end": f"{r.loss[-1]:.3f}"}
                  for k, r in results.items()], hide_index=True, key="compare_results",
                 height=ROW_HEIGHT * (len(results) + 1) + 3)
    if same:
        st.markdown(
            f"**Why this is unfair:** methods move their weights by very different amounts per step. At one "
            f"rate ({compare.LR}) some barely move (a scaling vector starting at 1 needs large steps) while "
            "others overshoot (LoRA+ gives B 16× the rate; full fine-tuning moves every weight). Switch the "
            "toggle off to give each its own measured rate.")
    else:
        st.markdown(
            "Each method runs at the learning rate that gave it the lowest final loss on this task (the "
            "'learning rate' column). Read it as a demonstration, not a benchmark: at this size the "
            "ranking says little about large models; it shows how fast each method can move a pretrained "
            "model when given a suitable step.")

    st.subheader("What each method bought, and what it cost: the Pareto front")
    axis = st.radio("Accuracy against", list(compare_state.PARETO_COSTS), horizontal=True, key="compare_pareto_axis",
                    format_func=compare_state.PARETO_COSTS.get)
    chart(figure(compare_state.pareto_chart, axis, tuple(chosen), same), "compare_pareto")
    st.caption(
        f"Measured in each run above: test accuracy on {compare.N_HELD_OUT} held-out task-B sequences; trainable "
        "parameters; memory the run held (its weights, gradients and Adam state, counted tensor by tensor, plus "
        "what autograd saved for one backward pass, measured with saved-tensor hooks); CPU time of its steps; "
        "and forgetting — the pre-training objective (task A) on held-out sequences, read through the "
        "classifier as pre-training left it, after minus before. That is this tiny model's stand-in for what "
        "Hugging Face peft's method comparison reports on Llama-3.2-3B (the change of the masked-LM loss on "
        "general text). Ringed methods are on the front: no other is cheaper and at least as accurate.")
    st.dataframe([{"method": METHODS[k].name, "test accuracy": f"{r.test_accuracy:.1%}",
                   "trainable": f"{r.trainable_without_head:,}", "memory (kB)": f"{r.memory_bytes / 1e3:,.0f}",
                   "CPU s": f"{r.cpu_seconds:.2f}", "forgetting (nats)": f"{r.forgetting:+.3f}"}
                  for k, r in results.items()], hide_index=True, key="compare_pareto_table",
                 height=ROW_HEIGHT * (len(results) + 1) + 3)

st.header("Open a method")
cols = st.columns(4)
for i, key in enumerate(METHODS):
    with cols[i % 4]:
        link(key)
