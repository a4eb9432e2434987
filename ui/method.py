"""One renderer for every method page, driven by the registry (peft_edu.METHODS).

UI only: the runs, counts and figures come from peft_edu.lessons and peft_edu.viz.
"""
from __future__ import annotations

import streamlit as st

from peft_edu import METHODS
from ui.lessons import render_lesson
from peft_edu.embeddings.train import runnable as search_offers
from ui import url_state
from ui.charts import chart, figure
from ui.links import link
from peft_edu.lessons.counts import page_counts
from peft_edu.lessons.explainer import knob_of, layer_sources, page_run, rank_ceiling, uses_transformer
from peft_edu.viz.style import fmt_int


@st.cache_resource(max_entries=128, show_spinner=False)
def _run(key: str, size: int):
    """The real training run behind the animation (shared by every session)."""
    return page_run(key, size)


@st.cache_resource(max_entries=256, show_spinner=False)
def _animation(key: str, size: int, phone: bool = False):
    """The animated figure (``phone``: laid out for a 400 px screen): built once per (method,
    size, layout), never mutated afterwards."""
    from peft_edu.viz.matrices import tensor_animation

    run = _run(key, size)
    knob = knob_of(key)
    at = f", {knob.symbol} = {size}" if knob.arg else ""
    return tensor_animation(run, f"{METHODS[key].name} training for real{at}: its tensors, step by step",
                            phone=phone)


@st.cache_resource(max_entries=256, show_spinner=False)
def _counts(key: str, size: int):
    return page_counts(key, size)


@st.cache_resource(max_entries=256, show_spinner=False)
def _share_bar(key: str, size: int):
    from peft_edu.viz.counts import share_bar

    return share_bar(_counts(key, size))


SECTIONS = (("Formula", "formula"), ("Watch it train", "watch"), ("Counts", "counts"),
            ("Pros & cons", "pros"), ("Code", "code"), ("Related", "related"), ("Lesson", "lesson"),
            ("Quiz", "quiz"))  # (label, URL fragment): every section of a method page has a stable link


def _header(spec) -> None:
    st.title(spec.name)
    st.markdown(" · ".join(f"[{label}](#{anchor})" for label, anchor in SECTIONS),
                help="Each section has its own link: copy it to send a page open at that section "
                     f"(e.g. …/{spec.key}#counts).")
    st.caption(f"{spec.paper} ({spec.year}) · [arXiv {spec.arxiv}]({spec.arxiv_url})")
    st.markdown(spec.idea)


def _formula(spec) -> None:
    st.subheader("The formula", anchor="formula")
    st.latex(spec.formula)
    st.markdown("\n".join(f"- ${sym}$: {meaning}" for sym, meaning in spec.symbols))
    c1, c2 = st.columns(2)
    c1.markdown(f":orange[**Trains:**] {spec.trainable}")
    c2.markdown(f":blue[**Frozen:**] {spec.frozen}")


def _size_from_url(key: str, state: str) -> None:
    """``?size=16`` in a link the page did not write itself sets the slider (a teacher's link)."""
    query = url_state.page_query()
    if query and query != st.session_state.get(f"{state}_query") and str(query.get("size", "")).isdigit():
        st.session_state[state] = int(query["size"])


def _size_slider(key: str) -> int:
    knob = knob_of(key)
    state = f"method_{key}_size"
    _size_from_url(key, state)
    st.session_state.setdefault(state, knob.default)
    if st.session_state[state] not in knob.options:  # stale or hand-edited value
        st.warning(f"{knob.label} {st.session_state[state]!r} is not available; showing {knob.default}.")
        st.session_state[state] = knob.default
    help_text = ("Rebuilds the layer at this size: the counts below and the training run change."
                 if knob.arg else f"{METHODS[key].name} has no size knob: the width changes the counts.")
    size = st.select_slider(knob.label, options=list(knob.options), key=state, help=help_text,
                            format_func=fmt_int)
    url_state.write_query({"size": str(size)})
    st.session_state[f"{state}_query"] = {"size": str(size)}
    ceiling = rank_ceiling(key)
    if ceiling is not None and size > ceiling:
        st.warning(f"r = {size} is larger than min(d_out, d_in) = {ceiling} of the layer trained below: "
                   f"its update can never have a rank above {ceiling}, so the extra directions only add "
                   "parameters. The counts still follow the formula.", icon=":material/warning:")
    return size


def _watch(key: str, size: int) -> None:
    st.subheader("Watch it train", anchor="watch")
    what = "a tiny pretrained BERT" if uses_transformer(key) else "one layer of a small MLP"
    st.markdown(
        f"A real training run with peft_edu on {what}. Every square is one number of a tensor, "
        "drawn at its true shape: :blue[frozen tensors in grey/blue], :orange[trainable ones in "
        "orange/purple] (white = 0). Press **▶ Play** (or Slow / Fast) or drag the step slider; the loss "
        "below advances with the frames. Without a mouse, switch on keyboard stepping below.")
    with st.spinner("Training the tiny model (first visit only)…"):
        fig = _animation(key, size)
    stepping = st.toggle("Step through with the keyboard", key=f"method_{key}_stepping",
                         help="Replaces the animation by a still figure and a step slider: focus the slider "
                              "(Tab) and move with ← →.")
    if stepping:
        steps = [int(frame.name) for frame in fig.frames]
        step = st.select_slider("Optimizer step shown", options=steps, key=f"method_{key}_step",
                                format_func=fmt_int)
        from peft_edu.viz.matrices import at_frame

        index = steps.index(step)
        chart(figure(at_frame, fig, index), key=f"method_{key}_still",
              phone=figure(at_frame, _animation(key, size, phone=True), index),
              config={"displayModeBar": False, "staticPlot": True})
    else:
        chart(fig, key=f"method_{key}_animation", shared=True, phone=_animation(key, size, phone=True),
              config={"displayModeBar": False})
    st.caption(_run(key, size).caption)


def _counts_panel(key: str, size: int) -> None:
    st.subheader("How many parameters train", anchor="counts")
    rows = _counts(key, size)
    for row in rows:
        st.markdown(f"**{row.label}**")
        c1, c2, c3 = st.columns(3)
        c1.metric("Trainable", fmt_int(row.trainable))
        c2.metric("Frozen", fmt_int(row.frozen))
        c3.metric("Trainable share", f"{row.share:.3f} %")
        if row.formula:
            st.latex(row.formula)
        if row.counted is not None:
            st.caption(f"Counted from the built module's trainable parameters: {fmt_int(row.counted)}.")
    st.latex(r"\text{in general: } " + METHODS[key].count_formula)
    chart(_share_bar(key, size), key=f"method_{key}_share", shared=True, config={"displayModeBar": False})


def _pros_cons(spec) -> None:
    c1, c2 = st.columns(2)
    with c1:
        st.subheader("Pros", anchor="pros")
        st.markdown("\n".join(f"- {p}" for p in spec.pros))
    with c2:
        st.subheader("Cons")
        st.markdown("\n".join(f"- {c}" for c in spec.cons))
    st.info(f"**When to use it:** {spec.when}")
    st.markdown(f"**Merge into W₀:** {'yes' if spec.mergeable else 'no'} · **Extra inference cost:** "
                f"{spec.inference_cost} · **Memory:** {spec.memory_note}")


def _source(key: str) -> None:
    st.subheader("The code that trained above", anchor="code")
    for title, code in layer_sources(key):
        with st.expander(f"Source: {title}"):
            st.code(code, language="python")


def _links(spec) -> None:
    st.subheader("Related", anchor="related")
    cols = st.columns(max(len(spec.related), 1))
    for col, other in zip(cols, spec.related):
        with col:
            link(other)
    c1, c2 = st.columns(2)
    with c1:
        link("calculator", f"Calculator: {spec.name} on real models")
        link("distributed", f"From one GPU to many: {spec.name} under DDP and ZeRO")
    with c2:
        link("lab", f"Live lab: fine-tune with {spec.name} now")
        if search_offers(spec.key):
            link("search", f"Semantic search: fine-tune an embedding model with {spec.name}")


def render_method(key: str) -> None:
    """Render the page of METHODS[key]."""
    if key not in METHODS:
        st.error(f"Unknown method {key!r}; choose one of: {', '.join(METHODS)}")
        return
    spec = METHODS[key]
    _header(spec)
    _formula(spec)
    size = _size_slider(key)
    _watch(key, size)
    _counts_panel(key, size)
    _pros_cons(spec)
    _source(key)
    _links(spec)
    render_lesson(key)
