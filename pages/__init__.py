"""The app's pages (UI only). Importing this package leaves Streamlit's legacy mode.

Streamlit treats a folder named ``pages/`` beside the main script as the old (v1)
multipage layout until ``st.navigation`` has run once in the server process. If the very
first request after a server start is a direct link such as ``/calculator``, Streamlit
would run that script on its own, with every file of this folder listed as a page. Every
page script imports this package, so that first run switches to app.py's navigation and
reruns: a page's identity is its URL path, so the rerun lands on the same page, drawn by
the router with its sidebar.
"""
from streamlit.runtime.pages_manager import PagesManager

if PagesManager.uses_pages_directory:
    import streamlit as st

    PagesManager.uses_pages_directory = False
    st.rerun()
