"""ModeScope's web app: `streamlit run app/streamlit_app.py` from the repository root.

A router only: the pages live in app/app_pages/ (not pages/, which Streamlit would treat as
an old-style multipage folder).
"""

import sys
from pathlib import Path

# Streamlit puts app/ on sys.path, not the repository root that holds `engine` and `app`.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

st.set_page_config(page_title="ModeScope", page_icon=":material/scatter_plot:", layout="wide")
st.set_option("client.toolbarMode", "minimal")  # a local research tool: no "Deploy" button

pages = [
    st.Page("app_pages/train.py", title="Train", icon=":material/play_circle:", default=True),
    st.Page("app_pages/runs.py", title="Runs", icon=":material/table_chart:"),
    st.Page("app_pages/explore.py", title="Explore", icon=":material/insights:"),
    st.Page("app_pages/studies.py", title="Studies", icon=":material/science:"),
]
st.navigation(pages).run()
