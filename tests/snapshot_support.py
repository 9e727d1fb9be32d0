"""Make real lab results deterministic for snapshot tests.

Results come from the real probes against the lab; what varies between runs (timings,
fresh certificates' dates and serials, temp paths, random relay tokens) is replaced by
fixed values before the tab renders them.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
from typing import Any

FIXED: dict[str, Any] = {
    "serial": "1",
    "sha256": "0" * 64,
    "not_before": "2026-01-01T00:00:00+00:00",
    "not_after": "2027-01-01T00:00:00+00:00",
    "days_left": 365,
    "ttl": 64,
    "scanned_at": 0.0,
    "elapsed_s": 12.0,
    "rate": 250.0,
    "eta_s": None,
}
_TOKEN = re.compile(r"(mxscope-(?:nx-)?)[0-9a-f]{8}")
_TIMES = re.compile(r"\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)* ms")


def _text(value: str) -> str:
    return _TIMES.sub("1.000 ms", _TOKEN.sub(r"\g<1>00000000", value))


def normalize(obj: Any, name: str = "") -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {f.name: normalize(getattr(obj, f.name), f.name)
                   for f in dataclasses.fields(obj)}
        if "seq" in changes and changes.get("rtt_ms") is not None:
            changes["rtt_ms"] = 0.5 + 0.1 * (obj.seq % 4)  # a chart with some shape
        return dataclasses.replace(obj, **changes)
    if name in FIXED:
        return FIXED[name] if obj is not None or name == "eta_s" else None
    if name.endswith("_path") and isinstance(obj, str):
        return os.path.basename(obj)
    if name.endswith("_ms") and isinstance(obj, int | float) and not isinstance(obj, bool):
        return 1.0
    if isinstance(obj, enum.Enum):
        return obj  # StrEnum values are str too: keep the enum
    if isinstance(obj, str):
        return _text(obj)
    if isinstance(obj, tuple):
        return tuple(normalize(v, name) for v in obj)
    if isinstance(obj, list):
        return [normalize(v, name) for v in obj]
    if isinstance(obj, dict):
        return {k: normalize(v, str(k)) for k, v in obj.items()}
    return obj
