"""The page's finished runs: metrics before/after, one query's top-5, embedding sizes, traps,
"search your own query" and the adapter download.

UI only. Every number is from a run's ``EmbedResult`` or from ``peft_edu.embeddings`` called on
that run's own tuned copy of the model.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

import torch

from peft_edu import protocol
from peft_edu.embeddings.metrics import ranks, top_k
from peft_edu.embeddings.model import embed
from peft_edu.embeddings.traps import TRAPS
from peft_edu.viz.search import dims_bars, trap_bars
from peft_edu.viz.style import fmt_int
from ui.charts import chart

state = st.session_state
METRIC_NAMES = ("recall@1", "recall@5", "recall@10", "MRR@10", "nDCG@10")


def finished_runs() -> list[tuple[object, object]]:
    """(job view, its data entry) of this session's runs that produced metrics, oldest first."""
    out = []
    for job in state["search_jobs"]:
        view = job.view()
        if view.result is not None and view.result.after:
            out.append((view, state["search_job_data"].get(job.id)))
    return out


def metrics_frame(result) -> pd.DataFrame:
    """The before/after table: one row per metric, in percent."""
    rows = [{"metric": name, "base model": f"{100 * result.before[name]:.1f}",
             "fine-tuned": f"{100 * result.after[name]:.1f}",
             "change (points)": f"{100 * (result.after[name] - result.before[name]):+.1f}"} for name in METRIC_NAMES]
    return pd.DataFrame(rows)


def runs_frame(runs) -> pd.DataFrame:
    return pd.DataFrame([{"run": v.label, "data": d[0] if d else "—", "status": v.status,
                          "trainable params": fmt_int(v.result.trainable),
                          "recall@10 base": f"{100 * v.result.before['recall@10']:.1f}",
                          "recall@10 tuned": f"{100 * v.result.after['recall@10']:.1f}",
                          "MRR@10 tuned": f"{100 * v.result.after['MRR@10']:.1f}",
                          "time (s)": f"{v.result.seconds:,.1f}"} for v, d in runs])


def render_metrics(view) -> None:
    result = view.result
    st.markdown(f"**{view.label}** — {view.status}. Held-out questions, ranked against the whole corpus:")
    st.table(metrics_frame(result).set_index("metric"))  # a plain HTML table: five rows, readable anywhere
    if view.message:
        st.caption(view.message)


def render_top5(view, data) -> None:
    """One held-out question's five nearest passages, base vs tuned; the right one is marked."""
    result, retrieval = view.result, data[1]
    options = list(range(len(retrieval.test_queries)))
    i = st.selectbox("Held-out question", options, format_func=lambda j: retrieval.test_queries[j],
                     index=_telling_question(view, retrieval), key=f"search_top5_query_{view.id}")
    right = retrieval.test_relevant[i]
    base_q, tuned_q = _query_embeddings(view, retrieval.test_queries[i])
    where = [f"{title}: rank {_rank(q, corpus, right):,}" for title, q, corpus in
             (("base", base_q, result.corpus_before), ("fine-tuned", tuned_q, result.corpus_after)) if q is not None]
    st.caption(f"Relevant passage: {retrieval.corpus[right]} — {'; '.join(where)} of {len(retrieval.corpus):,}.")
    for title, q, corpus in (("Base model", base_q, result.corpus_before), ("Fine-tuned", tuned_q, result.corpus_after)):
        st.markdown(f"**{title}**")
        if q is None:
            st.caption("The tuned model of this run was released to save memory; start a new run.")
            continue
        hits = top_k(q, corpus, 5)
        st.dataframe(pd.DataFrame([{"#": n + 1, "cos": f"{s:.3f}", "relevant": "yes" if j == right else "",
                                    "passage": retrieval.corpus[j]} for n, (j, s) in enumerate(hits)]),
                     hide_index=True, key=f"search_top5_{title}")


def _rank(query, corpus, right: int) -> int:
    return int(ranks(query.view(1, -1), corpus, torch.tensor([right]))[0])


def _telling_question(view, retrieval) -> int:
    """The first held-out question the run moved into the top 5 from outside it (else 0)."""
    pairs = zip(view.result.ranks_before, view.result.ranks_after)
    return next((i for i, (b, a) in enumerate(pairs) if a <= 5 < b), 0)


def _query_embeddings(view, text: str):
    """(base, tuned) embeddings of one text; tuned is None once the run's model was released."""
    from ui.search.runs import encoder

    base, tokenizer = encoder()
    tuned = view.result.model
    return (embed(base, tokenizer, [text])[0],
            embed(tuned, tokenizer, [text])[0] if tuned is not None else None)


def render_search_box(view, data) -> None:
    """The learner's own query over the corpus, with the base and the tuned model."""
    text = st.text_input("Search your own query", key="search_own_query", max_chars=300,
                         placeholder="e.g. my inbox is really slow since last night's update")
    if not text.strip():
        return
    base_q, tuned_q = _query_embeddings(view, text.strip())
    corpus = data[1].corpus
    cols = st.columns(2)
    for col, title, q, emb in ((cols[0], "Base model", base_q, view.result.corpus_before),
                               (cols[1], "Fine-tuned", tuned_q, view.result.corpus_after)):
        with col:
            st.markdown(f"**{title}**")
            if q is None:
                st.caption("This run's tuned model was released to save memory.")
                continue
            for j, s in top_k(q, emb, 5):
                st.text(f"{s:.3f}  {corpus[j]}")


def render_dims(view) -> None:
    chart(dims_bars(view.result.by_dims), key="search_dims")
    st.caption("A vector store may keep only the first dimensions of each embedding to save memory. "
               "MiniLM was not trained for that (Matryoshka-trained models are), so recall falls as "
               "dimensions go; fine-tuning can make the first ones carry more.")


def render_traps(runs) -> None:
    """Every finished run's recall@10, and each trap's measured effect against the clean run."""
    rows = [(v.label, v.result.before["recall@10"], v.result.after["recall@10"]) for v, _ in runs]
    chart(trap_bars(rows), key="search_traps")
    for trap in TRAPS:
        trapped = [(v, d) for v, d in runs if d and d[2] == frozenset({trap.key})]
        clean = [v for v, d in runs if trapped and d and not d[2] and d[0] == trapped[-1][1][0]
                 and _same_recipe(v.cfg, trapped[-1][0].cfg)]
        if clean:
            t, c = trapped[-1][0], clean[-1]
            gain_clean = c.result.after["recall@10"] - c.result.before["recall@10"]
            gain_trap = t.result.after["recall@10"] - t.result.before["recall@10"]
            st.markdown(f"- **{trap.title}**: recall@10 gain {100 * gain_trap:+.1f} points vs "
                        f"{100 * gain_clean:+.1f} for the same recipe without it ({t.status}). {trap.why}")
        else:
            st.markdown(f"- **{trap.title}**: not measured yet — run it with and without the switch "
                        "(same method and steps), or press *Measure the traps*.")


def _same_recipe(clean, trapped) -> bool:
    """Same method, steps and seed: the trap is the only difference left."""
    return (clean.method, clean.steps, clean.seed) == (trapped.method, trapped.steps, trapped.seed)


def render_download(view) -> None:
    """The adapter in peft's format (task_type FEATURE_EXTRACTION), zipped."""
    info = view.result.model
    if info is None:
        st.caption("This run's model was released to save memory; start a new run to download one.")
        return
    if protocol(view.cfg.method).saved_as == "model":
        st.caption("Full fine-tuning changed every weight: there is no adapter, the whole model is the result.")
        return
    zips = state["search_zips"]
    if view.id not in zips:
        from peft_edu.export import adapter_zip

        try:
            zips[view.id] = adapter_zip(info, name="search-adapter")
        except (TypeError, ValueError) as err:  # a method without an on-disk format: say so, keep the page
            zips[view.id] = f"This run's adapter cannot be saved: {err}"
    if isinstance(zips[view.id], str):
        st.caption(zips[view.id])
        return
    st.download_button("Download the adapter (peft format)", zips[view.id], file_name="search-adapter.zip",
                       mime="application/zip", key="search_download", icon=":material/download:")
    st.caption("Load it with sentence-transformers: `SentenceTransformer(path_to_all-MiniLM-L6-v2)` then "
               "`model.load_adapter('search-adapter')` (needs `peft`).")
