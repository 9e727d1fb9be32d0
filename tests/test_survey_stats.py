"""SurveyStats: counters, percentages, sliding-window rate, ETA, rebuild from an aggregate."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from tui.survey.record import CATEGORIES, Outcome, SurveyRecord
from tui.survey.stats import UNIDENTIFIED, UNKNOWN_COUNTRY, StatsSnapshot, SurveyStats
from tui.survey.store import SurveyStore


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rec(seq: int, outcome: Outcome = Outcome.ANSWERED, *, category: str | None = "Postfix",
        country: str | None = "DE", relay: str | None = None,
        dnsbl: int | None = None) -> SurveyRecord:
    return SurveyRecord(seq=seq, address=f"127.0.0.{seq % 250 + 2}", source="t",
                        outcome=outcome, category=category, country=country, relay=relay,
                        dnsbl_listed=dnsbl)


def test_classic_definitions() -> None:
    stats = SurveyStats(total=10, clock=FakeClock())
    stats.add(rec(0, category="Sendmail", country="DE", relay="open-relay", dnsbl=2))
    stats.add(rec(1, category="Sendmail", country="JP", relay="closed", dnsbl=0))
    stats.add(rec(2, category=None, country=None, relay="open-relay", dnsbl=1))
    stats.add(rec(3, Outcome.REJECTED, category="Postfix", country="DE"))
    stats.add(rec(4, Outcome.REFUSED, category=None, country=None))
    stats.add(rec(5, Outcome.TIMEOUT, category=None, country=None))
    stats.skipped("reserved")
    snap = stats.snapshot()
    assert snap.scanned == 6
    assert snap.available == 3
    assert snap.no_answer == 3  # did not respond: everything without a 2xx greeting
    assert snap.rejected == 1
    assert snap.by_outcome == {"answered": 3, "rejected": 1, "refused": 1, "timeout": 1,
                               "reset": 0, "error": 0}
    assert snap.skipped == 1 and snap.skipped_by_reason == {"reserved": 1}
    # Country and MTA over available servers only; unknowns kept apart, named.
    assert dict(snap.by_country) == {"DE": 1, "JP": 1, UNKNOWN_COUNTRY: 1}
    assert snap.by_mta == (("Sendmail", 2), (UNIDENTIFIED, 1))
    assert snap.open_relays == 2
    assert snap.open_relays_by_mta == (("Sendmail", 1), (UNIDENTIFIED, 1))
    assert snap.blacklisted == 2 and snap.dnsbl_tested == 3 and snap.relay_tested == 3
    assert snap.pct(1, 4) == 25.0 and snap.pct(3, 0) == 0.0
    assert snap.progress == 0.6


def test_ties_follow_the_classic_category_order() -> None:
    stats = SurveyStats(clock=FakeClock())
    for i, category in enumerate(reversed(CATEGORIES)):
        stats.add(rec(i, category=category))
    assert [name for name, _ in stats.snapshot().by_mta] == list(CATEGORIES)


def test_sliding_window_rate_and_eta() -> None:
    clock = FakeClock(1000.0)
    stats = SurveyStats(total=1000, clock=clock, window_s=5.0)
    for second in range(10):  # 100 targets per second for 10 s
        for i in range(100):
            clock.now = 1000.0 + second + i / 100
            stats.add(rec(second * 100 + i, Outcome.REFUSED))
    clock.now = 1010.0
    snap = stats.snapshot()
    assert 90 <= snap.rate <= 110
    assert snap.eta_s == 0.0  # 1000 of 1000 scanned
    # Nothing arrives for longer than the window: the rate falls to 0, no ETA invented.
    stats.total = 2000
    clock.now = 1030.0
    snap = stats.snapshot()
    assert snap.rate == 0.0 and snap.eta_s is None
    assert snap.elapsed_s == 30.0


def test_eta_from_rate_and_remaining() -> None:
    clock = FakeClock(0.0)
    stats = SurveyStats(total=1100, clock=clock)
    for i in range(500):
        clock.now = i / 100  # 100/s over 5 s
        stats.add(rec(i, Outcome.REFUSED))
    stats.skipped("excluded", 256)  # not part of the total
    clock.now = 5.0
    snap = stats.snapshot()
    assert 95 <= snap.rate <= 105
    assert snap.eta_s is not None and 5.5 < snap.eta_s < 6.5  # 600 left at ~100/s
    assert snap.skipped == 256


def test_unknown_total_has_no_eta() -> None:
    stats = SurveyStats(clock=FakeClock())
    stats.add(rec(0))
    assert stats.snapshot().eta_s is None and stats.snapshot().progress is None


def _aggregate_of(records: list[SurveyRecord]) -> dict:
    """The store's SQL aggregate of these records (resume rebuilds the stats from it)."""
    with SurveyStore(":memory:") as store:
        survey_id = store.create({"test": True})
        for r in records:
            store.add(survey_id, r)
        return store.aggregate(survey_id)


records_strategy = st.lists(
    st.builds(
        rec,
        st.just(0),
        st.sampled_from(list(Outcome)),
        category=st.one_of(st.none(), st.sampled_from(CATEGORIES)),
        country=st.one_of(st.none(), st.sampled_from(["DE", "US", "JP", "FR"])),
        relay=st.one_of(st.none(), st.sampled_from(["open-relay", "closed", "inconclusive"])),
        dnsbl=st.one_of(st.none(), st.integers(0, 3)),
    ),
    max_size=80,
)


def _assert_consistent(snap: StatsSnapshot) -> None:
    assert snap.scanned == sum(snap.by_outcome.values())
    assert 0 <= snap.available <= snap.scanned
    assert snap.no_answer == snap.scanned - snap.available
    assert sum(n for _, n in snap.by_country) == snap.available
    assert sum(n for _, n in snap.by_mta) == snap.available
    assert sum(n for _, n in snap.open_relays_by_mta) == snap.open_relays <= snap.relay_tested
    assert sum(n for _, n in snap.blacklisted_by_mta) == snap.blacklisted <= snap.dnsbl_tested
    for dist, of in ((snap.by_country, snap.available), (snap.by_mta, snap.available),
                     (snap.open_relays_by_mta, snap.open_relays),
                     (snap.blacklisted_by_mta, snap.blacklisted)):
        if of:
            assert abs(sum(snap.pct(n, of) for _, n in dist) - 100.0) < 1e-6
        counts = [n for _, n in dist]
        assert counts == sorted(counts, reverse=True) and all(n > 0 for n in counts)


@settings(max_examples=150, deadline=None)
@given(records_strategy)
def test_any_sequence_of_records_gives_consistent_totals(records: list[SurveyRecord]) -> None:
    records = [dataclasses.replace(r, seq=i) for i, r in enumerate(records)]  # one per target
    stats = SurveyStats(clock=FakeClock())
    stats.add_all(records)
    snap = stats.snapshot()
    _assert_consistent(snap)
    assert snap.scanned == len(records)
    assert snap.available == sum(r.outcome is Outcome.ANSWERED for r in records)
    # Rebuilding from an aggregate (resume) gives the same distributions.
    rebuilt = SurveyStats.from_aggregate(_aggregate_of(records), clock=FakeClock()).snapshot()
    _assert_consistent(rebuilt)
    for name in ("scanned", "available", "no_answer", "rejected", "by_outcome", "by_country",
                 "by_mta", "open_relays_by_mta", "open_relays", "blacklisted_by_mta",
                 "blacklisted", "relay_tested", "dnsbl_tested"):
        assert getattr(rebuilt, name) == getattr(snap, name), name
    replayed = SurveyStats.from_records(records, clock=FakeClock()).snapshot()
    assert replayed.by_mta == snap.by_mta and replayed.rate == 0.0


def test_from_aggregate_keeps_counting_and_total() -> None:
    clock = FakeClock()
    stats = SurveyStats.from_aggregate(
        {"outcomes": {"answered": 2, "refused": 5}, "countries": {"DE": 1, "": 1},
         "categories": {"Exim": 1, None: 1}, "open_relays": {}, "blacklisted": {},
         "relay_tested": 0, "dnsbl_tested": 0},
        total=20, clock=clock, elapsed_before=12.5)
    stats.add(rec(7, category="Exim", country="DE"))
    snap = stats.snapshot()
    assert snap.scanned == 8 and snap.available == 3
    assert snap.by_mta == (("Exim", 2), (UNIDENTIFIED, 1))
    assert dict(snap.by_country) == {"DE": 2, UNKNOWN_COUNTRY: 1}
    assert snap.total == 20 and snap.elapsed_s == 12.5
