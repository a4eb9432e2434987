"""Streamlit helpers of the Semantic search lab page (app_pages/search.py)."""
