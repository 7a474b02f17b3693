"""Where browser tests save screenshots: docs/screenshots/ only when asked.

`DOCS_SCREENSHOTS=1 make test` refreshes the pictures in docs/; an ordinary run writes
them to a temporary directory, so running the suite never changes the repository.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

DOCS_DIR = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


def screenshot_dir() -> Path:
    if os.environ.get("DOCS_SCREENSHOTS") == "1":
        DOCS_DIR.mkdir(parents=True, exist_ok=True)
        return DOCS_DIR
    return Path(tempfile.mkdtemp(prefix="shotspotter-screenshots-"))
