"""The lab's data: the shipped dataset or a learner's CSV upload, validated by peft_edu.lab.data.

UI only: ``choose_data()`` shows the choice and returns ``(name, train, test)``; every
problem with an upload is one clear message, and the shipped dataset stays the fallback.
A valid upload is kept for the learner (``ui.lab.keep``): after a refresh or a restart the
upload choice trains on it again until another file is uploaded.
"""
from __future__ import annotations

import streamlit as st

from ui.lab import keep
from ui.uploads import validated_upload
from peft_edu.lab.data import BUILTIN_NAME, MAX_BYTES, CSVProblem, Dataset, load_builtin, read_upload

UPLOAD = "Upload a CSV (text, label)"
state = st.session_state


@st.cache_data(show_spinner=False)
def builtin() -> tuple[Dataset, Dataset]:
    return load_builtin()


def _validated(file) -> tuple[Dataset, Dataset] | None:
    """The upload's (train, test), or None after telling the learner what is wrong."""
    found = validated_upload(file, state.setdefault("lab_upload_cache", {}), read_upload, CSVProblem,
                             MAX_BYTES, "'text' and 'label'")
    if found is None:
        return None
    n_labels = len(found.train.label_names)
    st.success(f"**{file.name}**: {len(found.train):,} training and {len(found.test):,} test sentences, "
               f"{n_labels} labels ({', '.join(found.train.label_names[:8])}{'…' if n_labels > 8 else ''}).")
    return found.train, found.test


def choose_data() -> tuple[str, Dataset, Dataset]:
    """The dataset of the next run: (name, train split, test split)."""
    source = st.radio("Data", (BUILTIN_NAME, UPLOAD), key="lab_data_source", horizontal=True)
    train, test = builtin()
    if source != UPLOAD:
        st.caption(f"{len(train):,} training and {len(test):,} test sentences; labels: "
                   f"{', '.join(train.label_names)}.")
        return BUILTIN_NAME, train, test
    file = st.file_uploader("CSV with a header row 'text,label' (UTF-8, at most 2 MB)", type=["csv", "txt"],
                            key="lab_upload")
    if file is None:
        kept = _kept()
        if kept is not None:
            return kept
        st.info("Until a valid file is uploaded, runs use the built-in dataset.")
        return BUILTIN_NAME, train, test
    splits = _validated(file)
    if splits is None:
        st.info("Runs use the built-in dataset until the file is fixed.")
        return BUILTIN_NAME, train, test
    keep.keep_upload(file.name, file.getvalue())
    return file.name, *splits


def _kept() -> tuple[str, Dataset, Dataset] | None:
    """The learner's kept upload, read once per session; None when there is none (or it no longer reads)."""
    found = keep.kept_upload()
    if found is None:
        return None
    name, raw = found
    cache = state.setdefault("lab_upload_cache", {})
    key = ("kept", name, len(raw))
    if key not in cache:
        try:
            cache[key] = read_upload(raw)
        except CSVProblem:
            cache[key] = None
    if cache[key] is None:
        return None
    st.success(f"**{name}** (your upload, kept): {len(cache[key].train):,} training and {len(cache[key].test):,} "
               "test sentences. Upload another file to replace it.", icon=":material/bookmark:")
    return name, cache[key].train, cache[key].test
