"""The review dashboard: ``streamlit run dashboard/app.py``. Nothing but the login page shows before login."""

import streamlit as st

from dashboard import _ui

# An emoji favicon is drawn in the page; a :material/...: one is fetched from fonts.gstatic.com on every load.
st.set_page_config(page_title="Human review", page_icon="📝", layout="wide")

user = _ui.current_user()
if user is None:
    page = _ui.login_navigation()  # the login form under every page's URL, so deep links survive it
else:
    pages = [
        st.Page("views/review.py", title="Review", icon=":material/rate_review:", default=True),
        st.Page("views/calibration.py", title="Calibration", icon=":material/balance:"),
        st.Page("views/runs.py", title="Runs", icon=":material/compare_arrows:"),
        st.Page("views/judges.py", title="Judges", icon=":material/gavel:"),
        st.Page("views/synthetic.py", title="Synthetic", icon=":material/auto_awesome:"),
        st.Page("views/topics.py", title="Topics", icon=":material/category:"),
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
