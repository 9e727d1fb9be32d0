"""Incremental survey statistics: counters only, O(categories) memory, cheap snapshots.

``SurveyStats.add(record)`` folds one SurveyRecord into a handful of Counters (per outcome,
country, MTA category, open relays and blacklisted per MTA); nothing per target is kept,
so a 10-million-target survey costs the same memory as a 10-target one. The UI (and the
headless progress line) call ``snapshot()`` a few times a second; it copies the counters
into a frozen StatsSnapshot.

Definitions follow the classic statistics page:

* scanned       targets with a record (every outcome)
* available     a 2xx greeting came back (Outcome.ANSWERED)
* no_answer     "did not respond" = scanned - available (no 220 within the wait; a 4xx/5xx
                greeting is counted here too, and separately as ``rejected``)
* by_country    over available servers ("ZZ" when the address has no known country: the
                ISO 3166 user-assigned code CLDR uses for "unknown region")
* by_mta        over available servers, categories from record.CATEGORIES; "Unidentified"
                stays apart from "Other"
* open relays per MTA over all open relays found; blacklisted per MTA over all blacklisted

The rate is targets per second over a sliding window (5 s by default) of quarter-second
buckets; the ETA is the remaining total divided by that rate, when the total is known.
``from_aggregate`` rebuilds the counters from the store's SQL aggregate on resume so a
1M-record survey is not replayed row by row.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tui.survey.record import CATEGORIES, Outcome, SurveyRecord

UNKNOWN_COUNTRY = "ZZ"
UNIDENTIFIED = "Unidentified"
OPEN_RELAY = "open-relay"  # tui.probes.relay.Verdict.OPEN_RELAY's value
BUCKET_S = 0.25

_CATEGORY_ORDER = {name: i for i, name in enumerate(CATEGORIES)}


@dataclass(frozen=True)
class StatsSnapshot:
    scanned: int
    no_answer: int  # "did not respond": scanned - available
    available: int
    rejected: int  # answered with a 4xx/5xx greeting (part of no_answer)
    by_outcome: dict[str, int]  # every Outcome value, zeros included
    skipped: int  # addresses never scanned: reserved, excluded, unresolvable …
    total: int | None  # targets the source emits (skipped ones not included), when known
    elapsed_s: float
    rate: float  # targets per second over the sliding window
    eta_s: float | None  # None when the total is unknown or nothing is moving
    by_country: tuple[tuple[str, int], ...]  # over available, sorted by count desc
    by_mta: tuple[tuple[str, int], ...]  # over available, sorted by count desc
    open_relays_by_mta: tuple[tuple[str, int], ...]
    open_relays: int
    blacklisted_by_mta: tuple[tuple[str, int], ...]
    blacklisted: int
    relay_tested: int
    dnsbl_tested: int
    skipped_by_reason: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def pct(count: int, of: int) -> float:
        """count as a percentage of ``of`` (0.0 when ``of`` is 0)."""
        return 100.0 * count / of if of else 0.0

    @property
    def progress(self) -> float | None:
        """0..1 when the total is known."""
        if not self.total:
            return None
        return min(1.0, self.scanned / self.total)


def _sorted(counter: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    # Count desc; ties in the classic page's category order, then by name, so the order
    # is stable between snapshots.
    items = [(k, v) for k, v in counter.items() if v]
    items.sort(key=lambda kv: (-kv[1], _CATEGORY_ORDER.get(kv[0], len(_CATEGORY_ORDER)), kv[0]))
    return tuple(items)


class SurveyStats:
    """Counters for one survey; ``add`` per record, ``snapshot`` when someone looks."""

    def __init__(
        self,
        total: int | None = None,
        started: float | None = None,
        *,
        window_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        elapsed_before: float = 0.0,
    ) -> None:
        self.total = total
        self._clock = clock
        self.started = clock() if started is None else started
        self.elapsed_before = elapsed_before  # time spent in earlier runs (resume)
        self.window_s = window_s
        self.by_outcome: Counter[str] = Counter()
        self.by_country: Counter[str] = Counter()
        self.by_mta: Counter[str] = Counter()
        self.open_relays_by_mta: Counter[str] = Counter()
        self.blacklisted_by_mta: Counter[str] = Counter()
        self.skipped_by_reason: Counter[str] = Counter()
        self.relay_tested = 0
        self.dnsbl_tested = 0
        # Sliding window: (bucket number, targets) pairs, at most window/BUCKET_S + 1.
        self._buckets: deque[list[int]] = deque()

    # -- folding records in -------------------------------------------------------------

    def _tick(self, n: int = 1) -> None:
        bucket = int(self._clock() / BUCKET_S)
        buckets = self._buckets
        if buckets and buckets[-1][0] == bucket:
            buckets[-1][1] += n
            return
        buckets.append([bucket, n])
        oldest = bucket - int(self.window_s / BUCKET_S)
        while buckets and buckets[0][0] < oldest:
            buckets.popleft()

    def add(self, record: SurveyRecord) -> None:
        outcome = record.outcome
        self.by_outcome[outcome] += 1  # a StrEnum: hashes and compares as its value
        category = record.category or UNIDENTIFIED
        if outcome is Outcome.ANSWERED:
            self.by_country[record.country or UNKNOWN_COUNTRY] += 1
            self.by_mta[category] += 1
        if record.relay is not None:
            self.relay_tested += 1
            if record.relay == OPEN_RELAY:
                self.open_relays_by_mta[category] += 1
        if record.dnsbl_listed is not None:
            self.dnsbl_tested += 1
            if record.dnsbl_listed > 0:
                self.blacklisted_by_mta[category] += 1
        self._tick()

    def add_all(self, records: Iterable[SurveyRecord]) -> None:
        for record in records:
            self.add(record)

    def skipped(self, reason: str, count: int = 1) -> None:
        """``count`` addresses the source dropped without scanning (reserved, excluded …;
        a reserved block inside a CIDR is one report standing for many addresses)."""
        self.skipped_by_reason[reason] += count

    # -- reading ------------------------------------------------------------------------

    @property
    def scanned(self) -> int:
        return sum(self.by_outcome.values())

    def rate(self, now: float | None = None) -> float:
        now = self._clock() if now is None else now
        bucket = int(now / BUCKET_S)
        oldest = bucket - int(self.window_s / BUCKET_S)
        count = sum(n for b, n in self._buckets if b >= oldest)
        # Early on the window is not full yet: divide by the time actually covered.
        span = min(self.window_s, max(now - self.started, BUCKET_S))
        return count / span

    def snapshot(self) -> StatsSnapshot:
        now = self._clock()
        by_outcome = {o.value: self.by_outcome.get(o.value, 0) for o in Outcome}
        for key, value in self.by_outcome.items():  # anything outside the enum, kept
            by_outcome.setdefault(str(key), value)
        scanned = sum(by_outcome.values())
        available = by_outcome[Outcome.ANSWERED.value]
        skipped = sum(self.skipped_by_reason.values())
        rate = self.rate(now)
        eta: float | None = None
        if self.total is not None:
            # count_hint's total leaves skipped addresses out already.
            remaining = max(0, self.total - scanned)
            if remaining == 0:
                eta = 0.0
            elif rate > 0:
                eta = remaining / rate
        return StatsSnapshot(
            scanned=scanned,
            no_answer=scanned - available,
            available=available,
            rejected=by_outcome[Outcome.REJECTED.value],
            by_outcome=by_outcome,
            skipped=skipped,
            total=self.total,
            elapsed_s=self.elapsed_before + max(0.0, now - self.started),
            rate=rate,
            eta_s=eta,
            by_country=_sorted(self.by_country),
            by_mta=_sorted(self.by_mta),
            open_relays_by_mta=_sorted(self.open_relays_by_mta),
            open_relays=sum(self.open_relays_by_mta.values()),
            blacklisted_by_mta=_sorted(self.blacklisted_by_mta),
            blacklisted=sum(self.blacklisted_by_mta.values()),
            relay_tested=self.relay_tested,
            dnsbl_tested=self.dnsbl_tested,
            skipped_by_reason=dict(self.skipped_by_reason),
        )

    # -- rebuilding -----------------------------------------------------------------------

    @classmethod
    def from_records(cls, records: Iterable[SurveyRecord], **kwargs: Any) -> SurveyStats:
        stats = cls(**kwargs)
        for record in records:
            stats.add(record)
        stats._buckets.clear()  # replayed records are not this run's rate
        return stats

    @classmethod
    def from_aggregate(cls, aggregate: Mapping[str, Any], **kwargs: Any) -> SurveyStats:
        """Counters from the store's SQL aggregate (SurveyStore.aggregate): ``outcomes``
        {outcome: n}; ``countries`` and ``categories`` {key: n} over answered records;
        ``open_relays`` / ``blacklisted`` {category: n}; ``relay_tested``, ``dnsbl_tested``.
        (The snapshot's own names — by_outcome, by_country, by_mta, open_relays_by_mta,
        blacklisted_by_mta — are accepted too.) A missing key (None or "": no country, no
        category) becomes "ZZ" / "Unidentified", as ``add`` would make it. Keyword
        arguments go to the constructor (total, started, elapsed_before …).
        """
        stats = cls(**kwargs)

        def fold(target: Counter[str], names: tuple[str, str], missing: str | None) -> None:
            values = aggregate.get(names[0])
            if values is None:
                values = aggregate.get(names[1])
            for key, count in dict(values or {}).items():
                if not count:
                    continue
                name = missing if key is None or key == "" else str(key)
                if name is not None:
                    target[name] += int(count)

        fold(stats.by_outcome, ("outcomes", "by_outcome"), None)
        fold(stats.by_country, ("countries", "by_country"), UNKNOWN_COUNTRY)
        fold(stats.by_mta, ("categories", "by_mta"), UNIDENTIFIED)
        fold(stats.open_relays_by_mta, ("open_relays", "open_relays_by_mta"), UNIDENTIFIED)
        fold(stats.blacklisted_by_mta, ("blacklisted", "blacklisted_by_mta"), UNIDENTIFIED)
        stats.relay_tested = int(aggregate.get("relay_tested") or 0)
        stats.dnsbl_tested = int(aggregate.get("dnsbl_tested") or 0)
        return stats
