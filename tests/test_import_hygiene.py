"""probes/ and survey/ are UI-free: importing any of them must not load Textual or widgets."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import tui

ROOT = Path(tui.__file__).parent
UI_FREE = [p for p in ("probes", "survey") if (ROOT / p).is_dir()]


def _modules() -> list[str]:
    names: list[str] = []
    for pkg in UI_FREE:
        names.append(f"tui.{pkg}")
        for info in pkgutil.walk_packages([str(ROOT / pkg)], prefix=f"tui.{pkg}."):
            names.append(info.name)
    return names


def test_there_are_modules_to_check() -> None:
    assert "tui.probes" in _modules() and len(_modules()) > 3


@pytest.mark.parametrize("module", _modules())
def test_module_does_not_import_textual(module: str) -> None:
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')"
        " or m == 'widgets' or m.startswith('widgets.') or m in ('tui.app', 'tui.tabs'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{module} pulled in {out.stdout.strip()}"
