"""The record kept for every surveyed target, and the outcome vocabulary.

A record is written to the store as soon as its target is finished and folded into the
statistics; it is small and flat so a million of them stream to SQLite cheaply.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Outcome(enum.StrEnum):
    ANSWERED = "answered"  # a 2xx greeting: an available mail server
    REJECTED = "rejected"  # a 4xx/5xx greeting (421 busy, 554 no service): it answered, but no
    REFUSED = "refused"  # connection refused (RST)
    TIMEOUT = "timeout"  # no connection, or no complete greeting within the wait
    RESET = "reset"  # connection dropped before a complete greeting
    ERROR = "error"  # garbage, oversized greeting, TLS failure, local error

    @property
    def responded(self) -> bool:
        """Counted as "available" on the classic statistics page: a 220 line came back."""
        return self is Outcome.ANSWERED


# Survey categories, in the classic page's order; "Unidentified" is kept apart from "Other".
CATEGORIES: tuple[str, ...] = (
    "Sendmail", "Postfix", "qmail", "Exim", "IMail", "InterMail", "Microsoft Exchange",
    "Other", "Unidentified",
)


@dataclass(frozen=True, slots=True)
class SurveyRecord:
    seq: int  # position of the target in the source stream (0-based); the resume cursor
    address: str  # the IP connected to
    source: str  # what the source said: the line, the domain, the CIDR
    outcome: Outcome
    greeting: str = ""  # the greeting as received (lines joined by "\n"), bounded
    category: str | None = None  # one of CATEGORIES when answered
    vendor: str | None = None
    product: str | None = None
    version: str | None = None
    country: str | None = None  # ISO 3166 alpha-2
    relay: str | None = None  # relay verdict when the relay test ran: open-relay, closed, …
    dnsbl_listed: int | None = None  # lists that list the address, when DNSBL ran
    connect_ms: float | None = None
    greeting_ms: float | None = None
    scanned_at: float = 0.0  # Unix time
