"""Settings of the processes ``bench_pipeline`` starts: production settings, one change.

Under ASGI Django runs every request in a thread of its own, so persistent connections
(``CONN_MAX_AGE`` > 0) are never reused and pile up until PostgreSQL refuses clients
("too many clients already"). Django's documentation says to disable them in async
mode; the bench does, and reports it (``shotspotter.env`` sets 60).
"""

from shotspotter.settings import *  # noqa: F403
from shotspotter.settings import DATABASES

DATABASES["default"]["CONN_MAX_AGE"] = 0
