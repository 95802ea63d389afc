"""The review dashboard: the Streamlit app over the review store, its sign-in, and its CLI.

Start the app with ``streamlit run dashboard/app.py``; manage it with ``python -m dashboard --help``.
The review library itself (store, queue filling, agreement, export, purge) is :mod:`review`.
"""

from .auth import User, add_user, authenticate, hash_password, load_users, verify_password
from .config import DashboardConfig
from .errors import AuthError, ConfigError, DashboardError

__all__ = [
    "AuthError",
    "ConfigError",
    "DashboardConfig",
    "DashboardError",
    "User",
    "add_user",
    "authenticate",
    "hash_password",
    "load_users",
    "verify_password",
]
