"""The dashboard's pages: Streamlit runs each file as a script (``dashboard/app.py``'s navigation). A package, so
that lint-imports checks their imports against the rooms' layers like the rest of ``dashboard``."""
