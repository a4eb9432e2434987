"""Streamlit helpers of the distributed page (app_pages/distributed.py)."""
