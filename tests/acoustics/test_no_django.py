"""The acoustic core is plain numpy/scipy: only its management commands (and the app's
registration in apps.py) may import Django or the other apps."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = REPO_ROOT / "apps" / "acoustics"
DJANGO_ALLOWED = {PACKAGE / "apps.py"}


def core_modules() -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if "management" not in path.relative_to(PACKAGE).parts and path not in DJANGO_ALLOWED
    )


def imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_core_module_imports_django_or_another_app():
    offenders = {}
    for path in core_modules():
        bad = {
            name
            for name in imported_names(path)
            if name.split(".")[0] == "django"
            or (name.startswith("apps.") and not name.startswith("apps.acoustics"))
        }
        if bad:
            offenders[str(path.relative_to(REPO_ROOT))] = sorted(bad)
    assert len(core_modules()) > 20  # the walk found the package
    assert offenders == {}


def test_every_core_module_imports_in_a_bare_python_without_django_settings():
    names = [
        ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in core_modules()
    ]
    script = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "print(len(loaded))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
