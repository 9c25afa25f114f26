"""The test suite's settings: the app's own, with a secret key for this run.

The suite runs on PostgreSQL with DEBUG off, where the app refuses to start
without SECRET_KEY. A key made here for the run goes into the environment, so
workers and commands the tests start share it.
"""

import os
import secrets

os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))

from config.settings import *  # noqa: E402,F403
