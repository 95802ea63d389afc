"""The review dashboard: ``streamlit run dashboard/app.py``. Nothing but the login page shows before login."""

import streamlit as st

from dashboard import _ui

st.set_page_config(page_title="Human review", page_icon=":material/rate_review:", layout="wide")

user = _ui.current_user()
if user is None:
    page = st.navigation(
        [st.Page("views/login.py", title="Log in", icon=":material/login:")], position="hidden"
    )
else:
    pages = [
        st.Page("views/review.py", title="Review", icon=":material/rate_review:", default=True),
        st.Page("views/calibration.py", title="Calibration", icon=":material/balance:"),
        st.Page("views/runs.py", title="Runs", icon=":material/compare_arrows:"),
    ]
    if user.is_admin:
        pages += [
            st.Page("views/queues.py", title="Queues", icon=":material/view_list:"),
            st.Page("views/export.py", title="Export", icon=":material/download:"),
        ]
    with st.sidebar:
        st.caption(f"Logged in as **{user.name}** ({user.role})")
        if st.button("Log out", key="logout"):
            _ui.logout()
            st.rerun()
    page = st.navigation(pages)
page.run()
