"""Login page: a user name and password from the users file, or single sign-on through st.login."""

import streamlit as st

from dashboard import _ui
from dashboard.auth import authenticate
from dashboard.errors import AuthError

st.title("Human review")
st.write("Log in to review.")

with st.form("login"):
    name = st.text_input("User name", key="login_name")
    password = st.text_input("Password", type="password", key="login_password")
    submitted = st.form_submit_button("Log in", key="login_submit")
if submitted:
    try:
        st.session_state[_ui.USER_KEY] = authenticate(_ui.users(), name.strip(), password)
    except AuthError as exc:
        st.error(str(exc))
    else:
        st.rerun()

if _ui.oidc_configured():
    st.divider()
    if st.user.is_logged_in:
        # Authenticated by the identity provider but not in the users file: no role, no access.
        st.warning(f"{st.user.get('email')} is not a dashboard user; ask an admin to add it with --email.")
        if st.button("Log out of single sign-on"):
            st.logout()
    elif st.button("Log in with single sign-on", key="login_oidc"):
        st.login()
