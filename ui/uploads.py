"""One learner upload, read once and cached per file: a clear message for every problem.

Shared by the lab (``text,label``) and the semantic-search page (``query,passage``); the
reading and its checks belong to the library's ``read_upload`` of each page."""
from __future__ import annotations

from typing import Callable

import streamlit as st


def validated_upload(file, cache: dict, read: Callable[[bytes], object], problem: type[Exception],
                     max_bytes: int, columns: str):
    """``read(file bytes)`` (cached in ``cache``), or None after showing the learner what is
    wrong. ``problem`` is the library's error type; ``columns`` names the expected header."""
    key = (file.file_id, file.name, file.size)
    if key not in cache:
        if file.size > max_bytes:  # refuse before reading a large file into memory
            cache[key] = problem(f"The file is {file.size:,} bytes; the limit is {max_bytes:,} bytes "
                                 f"({max_bytes / 1e6:g} MB). Upload a smaller sample of your data.")
        else:
            try:
                cache[key] = read(file.getvalue())
            except problem as err:
                cache[key] = err
            except Exception as err:  # noqa: BLE001 - an unreadable file must not crash the page
                cache[key] = problem(f"The file could not be read ({type(err).__name__}). "
                                     f"Upload a UTF-8 CSV with the columns {columns}.")
    found = cache[key]
    if isinstance(found, problem):
        st.error(f"**{file.name}**: {found}", icon=":material/error:")
        return None
    for note in found.notes:
        st.warning(note, icon=":material/info:")
    return found
