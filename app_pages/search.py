"""Semantic search lab: fine-tune all-MiniLM-L6-v2 as an embedding model and measure retrieval.

UI only. Runs are ``peft_edu.embeddings.train.train`` in the lab's background job queue; an
``st.fragment(run_every=...)`` redraws their progress. Every session owns a ``jobs.Owner``:
when the session ends, its runs stop.
"""
import streamlit as st

from ui.links import link
from ui.search.data import choose_data
from ui.search.results import (finished_runs, render_dims, render_download, render_metrics, render_search_box,
                               render_top5, render_traps, runs_frame)
from ui.search.runs import REFRESH_S, active, choose_recipe, render_live, session_jobs, submit, submit_trap_set
from ui.search.state import init_search_state

init_search_state()

st.title("Semantic search lab")
st.caption("all-MiniLM-L6-v2 *is* an embedding model: it turns a text into 384 numbers, and a search returns "
           "the passages whose vectors point the same way as the question's. Fine-tune it on question–passage "
           "pairs with the multiple-negatives ranking loss and measure held-out retrieval before and after.")

left, right = st.columns([1, 2], gap="large")
with left:
    st.subheader("Data")
    data = choose_data()
    st.subheader("Recipe")
    cfg, traps = choose_recipe()
    busy = active([job.view() for job in session_jobs()])
    if st.button("Start", type="primary", key="search_start", icon=":material/play_arrow:",
                 help="Queues a run; it starts when a training slot is free."):
        submit(cfg, traps, data)
        busy = True
    if st.button("Measure the traps", key="search_trap_set", icon=":material/science:",
                 help="Queues four runs of this recipe: clean, and with each trap on its own."):
        submit_trap_set(cfg, data)
        busy = True

with right:
    st.subheader("Training")
    if not session_jobs():
        st.info("Press **Start**: the run first ranks the held-out questions with the base model, then trains, "
                "then ranks them again. On a 2-core CPU the default LoRA run takes about a minute.",
                icon=":material/info:")
    st.fragment(run_every=REFRESH_S if busy else None)(render_live)()

runs = finished_runs()
if runs:
    st.divider()
    st.header("Results")
    names = [v.label + f" ({v.id})" for v, _ in runs]
    pick = st.selectbox("Run", range(len(runs)), index=len(runs) - 1, format_func=lambda i: names[i],
                        key="search_pick")
    view, entry = runs[pick]
    render_metrics(view)
    with st.expander("All runs of this session", expanded=len(runs) > 1):
        st.dataframe(runs_frame(runs), hide_index=True)
    st.subheader("One question's top 5, before and after")
    render_top5(view, entry)
    st.subheader("Embedding size")
    render_dims(view)
    st.subheader("The traps, measured")
    render_traps(runs)
    st.subheader("Search your own query")
    render_search_box(view, entry)
    st.subheader("Download")
    render_download(view)

st.divider()
st.caption("The loss, in-batch negatives and the traps are explained below the runs; the method behind the "
           "default run is explained on its own page.")
link("lora", "LoRA explained", icon=":material/arrow_forward:")
with st.expander("How it works: the ranking loss and the metrics"):
    st.markdown(
        r"""
For a batch of $n$ pairs $(q_i, p_i)$ the **multiple-negatives ranking loss** scores every question
against every passage of the batch, $s_{ij} = 20\cdot\cos(e(q_i), e(p_j))$, and takes the cross-entropy of
row $i$ with target $i$: each question must pick its own passage among the $n$ in the batch. The other
$n-1$ passages are free **in-batch negatives** — so a bigger batch gives more of them, and a *copy* of
$p_i$ elsewhere in the batch is a negative that is really the answer.

The embedding $e(\cdot)$ is the mean of the encoder's token vectors (padding excluded), scaled to length 1.

Held-out questions are ranked against the **whole corpus**. With *rank* the position of the relevant
passage: **recall@k** = share with rank ≤ k; **MRR@10** = mean of 1/rank (0 beyond 10) — it rewards
putting the answer *first*; **nDCG@10** = mean of $1/\log_2(1+\text{rank})$ (0 beyond 10).
"""
    )
