"""What every probe shares: the status vocabulary, timing, and JSON conversion.

A probe returns a frozen dataclass with at least ``status`` (a Status), ``message`` (one
human line, empty when there is nothing to add) and timings in milliseconds. It never
raises for a network outcome; only programming errors escape.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import time
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any


class Status(enum.StrEnum):
    OK = "ok"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    ERROR = "error"
    NXDOMAIN = "nxdomain"
    NOANSWER = "noanswer"
    SERVFAIL = "servfail"
    RESET = "reset"
    UNAVAILABLE = "unavailable"  # the check cannot run here (no DB, no permission …)


class Stopwatch:
    """Monotonic elapsed milliseconds: ``sw = Stopwatch(); …; sw.ms()``."""

    __slots__ = ("_start",)

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def ms(self) -> float:
        return round((time.perf_counter() - self._start) * 1000.0, 3)


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, enums, tuples, IP addresses and paths -> plain JSON types."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, ipaddress.IPv4Address | ipaddress.IPv6Address | PurePath):
        return str(obj)
    return obj
