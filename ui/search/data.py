"""The page's data: the shipped help-desk set or a learner's ``query,passage`` upload.

UI only; validation is ``peft_edu.embeddings.data.read_upload``, which says what is wrong.
"""
from __future__ import annotations

import streamlit as st

from ui.uploads import validated_upload
from peft_edu.embeddings.data import BUILTIN_NAME, CSVProblem, RetrievalSet, load_builtin, read_upload
from peft_edu.lab.data import MAX_BYTES

UPLOAD = "Upload a CSV (query, passage)"
state = st.session_state


@st.cache_data(show_spinner=False)
def builtin() -> RetrievalSet:
    return load_builtin()


def _validated(file) -> RetrievalSet | None:
    found = validated_upload(file, state["search_upload_cache"], read_upload, CSVProblem, MAX_BYTES,
                             "'query' and 'passage'")
    if found is None:
        return None
    st.success(f"**{file.name}**: {len(found.corpus):,} passages, {len(found.train_queries):,} training and "
               f"{len(found.test_queries):,} held-out questions.")
    return found


def describe(data: RetrievalSet) -> str:
    return (f"{len(data.corpus):,} passages; {len(data.train_queries):,} training questions and "
            f"{len(data.test_queries):,} held-out ones (about passages no training question asks about).")


def choose_data() -> tuple[str, RetrievalSet]:
    """(name, data) of the next run; the shipped set until an upload is valid."""
    source = st.radio("Data", (BUILTIN_NAME, UPLOAD), key="search_data_source", horizontal=True)
    shipped = builtin()
    if source == UPLOAD:
        file = st.file_uploader("CSV with a header row 'query,passage' (UTF-8, at most 2 MB)",
                                type=["csv", "txt"], key="search_upload")
        found = _validated(file) if file is not None else None
        if found is not None:
            return file.name, found
        st.info("Until a valid file is uploaded, runs use the shipped help-desk set.")
    st.caption(describe(shipped))
    return BUILTIN_NAME, shipped
