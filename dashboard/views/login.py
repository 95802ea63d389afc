"""Login page: a user name and password from the users file, or single sign-on through st.login.

Password logins go through the throttle (dashboard/logins.py): every attempt is audited, and repeated
failures for a name or from a client are refused for a while.
"""

import streamlit as st

from dashboard import _ui
from dashboard.errors import AuthError

st.title("Human review")
st.write("Log in to review.")

with st.form("login", clear_on_submit=True):
    name = st.text_input("User name", key="login_name")
    password = st.text_input("Password", type="password", key="login_password")
    submitted = st.form_submit_button("Log in", key="login_submit")
if submitted:
    # The typed password must not linger in the session's widget state once it has been checked.
    st.session_state.pop("login_password", None)
    try:
        user = _ui.login_guard().login(_ui.users(), name.strip(), password, client=_ui.client_address())
    except AuthError as exc:
        st.error(_ui.md(exc))
    else:
        _ui.remember_login(user)
        st.rerun()

if _ui.oidc_configured():
    st.divider()
    if st.user.is_logged_in:
        # Authenticated by the identity provider but not in the users file: no role, no access.
        st.warning(
            _ui.md(f"{st.user.get('email')} is not a dashboard user; ask an admin to add it with --email.")
        )
        if st.button("Log out of single sign-on"):
            st.logout()
    elif st.button("Log in with single sign-on", key="login_oidc"):
        st.login()

_ui.forget_login()
