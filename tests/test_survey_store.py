"""The survey store: batched WAL commits, the incremental watermark, no duplicates, the SQL
aggregate, and a real SIGKILL of a writing subprocess that loses nothing committed."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.survey.record import Outcome, SurveyRecord
from tui.survey.stats import SurveyStats
from tui.survey.store import STATES, StoreError, SurveyStore, _Progress

ROOT = Path(__file__).resolve().parents[1]

# Shared by the test and the writer subprocess: the same records and the same finishing
# order (workers finish seqs out of order inside a window, as the scheduler does).
_HELPERS = '''
import random
from tui.survey.record import Outcome, SurveyRecord

CATS = ("Sendmail", "Postfix", "qmail", "Exim", None)

def rec(seq):
    answered = seq % 3 != 0
    return SurveyRecord(
        seq=seq, address=f"127.{seq >> 16 & 255}.{seq >> 8 & 255}.{seq & 255}",
        source="127.0.0.0/8", outcome=Outcome.ANSWERED if answered else Outcome.TIMEOUT,
        greeting=f"220 mx{seq}.example ESMTP \\u00e9\\n220 more" if answered else "",
        category=CATS[seq % 5] if answered else None, country="DE" if seq % 2 else None,
        relay="open-relay" if answered and seq % 7 == 0 else None,
        dnsbl_listed=(seq % 4) if answered else None,
        connect_ms=seq / 8, greeting_ms=None if not answered else seq / 4,
        scanned_at=1_700_000_000.0 + seq)

def order(n, window=64, seed=5):
    rng = random.Random(seed)
    out = []
    for start in range(0, n, window):
        block = list(range(start, min(n, start + window)))
        rng.shuffle(block)
        out.extend(block)
    return out
'''

_WRITER = _HELPERS + '''
import sys, time
from tui.survey.store import SurveyStore

path, sid, n, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
store = SurveyStore(path, batch_size=100, flush_interval=3600)
store.set_state(sid, "running")
for i, seq in enumerate(order(n)):
    store.add(sid, rec(seq))
    if store.pending == 0:
        print("committed", i + 1, flush=True)
    if mode == "hang" and i + 1 == 537:
        print("buffered", store.pending, flush=True)
        time.sleep(120)
print("done", flush=True)
'''

helpers: dict = {}
exec(_HELPERS, helpers)
rec = helpers["rec"]
order = helpers["order"]


@pytest.fixture
def store(tmp_path: Path):
    s = SurveyStore(tmp_path / "surveys.sqlite")
    yield s
    s.close()


def raw_count(path: Path, survey_id: int) -> int:
    """Rows visible to another connection: only what is committed."""
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM records WHERE survey_id = ?",
                          (survey_id,)).fetchone()[0]


def test_surveys_create_get_list_state(store: SurveyStore) -> None:
    a = store.create({"source": {"kind": "cidr", "value": "127.0.0.0/24"}, "port": 2525},
                     total=256)
    b = store.create({"source": "random:10"}, state="paused")
    info = store.get(a)
    assert info.params == {"source": {"kind": "cidr", "value": "127.0.0.0/24"}, "port": 2525}
    assert (info.state, info.total, info.watermark, info.stored, info.available) == (
        "running", 256, -1, 0, 0)
    assert info.finished is None
    assert [s.id for s in store.list()] == [b, a]
    store.set_state(a, "finished")
    info = store.get(a)
    assert info.state == "finished" and info.finished is not None
    assert info.finished >= info.created
    store.set_total(b, 10)
    assert store.get(b).total == 10
    with pytest.raises(StoreError, match="no survey with id 99"):
        store.get(99)
    with pytest.raises(StoreError):
        store.set_state(99, "paused")
    with pytest.raises(StoreError):
        store.add(99, rec(0))
    assert store.pending == 0
    with pytest.raises(ValueError, match="state must be one of"):
        store.set_state(a, "exploded")
    assert set(STATES) == {"running", "paused", "stopped", "finished", "crashed"}


def test_wal_mode_and_schema(store: SurveyStore) -> None:
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        cols = [r[1] for r in db.execute("PRAGMA table_info(records)")]
        assert cols == ["survey_id", "seq", "address", "source", "outcome", "greeting",
                        "category", "vendor", "product", "version", "country", "relay",
                        "dnsbl_listed", "connect_ms", "greeting_ms", "scanned_at"]
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            sid = store.create({})
            for _ in range(2):
                db.execute("INSERT INTO records (survey_id, seq, address, source, outcome, "
                           "scanned_at) VALUES (?, 0, 'a', 's', 'timeout', 0)", (sid,))


def test_batches_commit_when_full(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = SurveyStore(path, batch_size=10, flush_interval=3600)
    sid = store.create({})
    for seq in range(9):
        store.add(sid, rec(seq))
    assert store.pending == 9 and raw_count(path, sid) == 0
    store.add(sid, rec(9))
    assert store.pending == 0 and raw_count(path, sid) == 10
    store.add(sid, rec(10))
    assert not store.flush_if_due()  # the interval has not passed
    store.flush()
    assert raw_count(path, sid) == 11
    store.close()
    store.close()  # twice is fine


def test_timer_flush(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = SurveyStore(path, batch_size=1000, flush_interval=0.0)
    sid = store.create({})
    store.add(sid, rec(0))  # due at once: committed by add itself
    assert raw_count(path, sid) == 1
    store.flush_interval = 3600
    store.add(sid, rec(1))
    assert raw_count(path, sid) == 1
    store.flush_interval = 0.0
    assert store.flush_if_due() and raw_count(path, sid) == 2
    assert not store.flush_if_due()  # nothing buffered
    store.close()


def test_watermark_is_incremental_and_persisted(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = SurveyStore(path, batch_size=1000, flush_interval=3600)
    sid = store.create({})
    assert store.watermark(sid) == -1
    for seq in (2, 0, 5, 1, 3, 9):
        store.add(sid, rec(seq))
    assert raw_count(path, sid) == 0  # nothing committed yet
    assert store.watermark(sid) == 3  # reads flush first
    assert raw_count(path, sid) == 6
    assert store.done_seqs_after(sid, 3) == {5, 9}
    assert store.get(sid).watermark == 3
    store.close()
    again = SurveyStore(path)
    assert again.watermark(sid) == 3
    again.add(sid, rec(4))
    again.flush()
    assert again.watermark(sid) == 5 and again.get(sid).watermark == 5
    assert again.done_seqs_after(sid, 5) == {9}
    again.close()


def test_duplicates_are_ignored_and_counters_stay_exact(store: SurveyStore) -> None:
    sid = store.create({})
    for seq in range(6):
        store.add(sid, rec(seq))
    store.flush()
    before = store.get(sid)
    assert (before.stored, before.available) == (6, 4)  # seqs 0 and 3 time out
    hostile = SurveyRecord(seq=1, address="6.6.6.6", source="x", outcome=Outcome.TIMEOUT)
    store.add(sid, hostile)  # committed earlier: ignored
    store.add(sid, rec(6))
    store.add(sid, SurveyRecord(seq=6, address="7.7.7.7", source="x", outcome=Outcome.ANSWERED))
    store.flush()
    after = store.get(sid)
    assert (after.stored, after.available) == (7, 4)  # seq 6 is a timeout (6 % 3 == 0)
    assert store.count(sid) == 7
    assert list(store.records(sid)) == [rec(s) for s in range(7)]  # first record kept


def test_records_round_trip_and_stream_in_pages(store: SurveyStore) -> None:
    sid = store.create({})
    other = store.create({})
    seqs = order(2500)
    for seq in seqs:
        store.add(sid, rec(seq))
    store.add(other, rec(0))
    got = store.records(sid)
    first = next(got)  # streamed: one page at a time
    assert first == rec(0)
    rest = list(got)
    assert [first, *rest] == [rec(s) for s in range(2500)]
    assert [r.seq for r in store.records(other)] == [0]
    assert store.watermark(sid) == 2499 and store.watermark(other) == 0


def test_threads_may_share_the_store(store: SurveyStore) -> None:
    sid = store.create({})

    def worker(k: int) -> None:
        for seq in range(k, 4000, 4):
            store.add(sid, rec(seq))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.flush()
    assert store.count(sid) == 4000 and store.watermark(sid) == 3999
    assert store.done_seqs_after(sid, 3999) == set()


def test_aggregate_counts_and_rebuilds_the_stats(store: SurveyStore) -> None:
    sid = store.create({})
    records = [rec(seq) for seq in range(300)]
    for r in records:
        store.add(sid, r)
    agg = store.aggregate(sid)  # flushes first
    answered = [r for r in records if r.outcome is Outcome.ANSWERED]
    assert agg["scanned"] == 300 and agg["available"] == len(answered) == 200
    assert agg["by_outcome"] == {"answered": 200, "timeout": 100}
    assert agg["by_mta"] == {"Sendmail": 40, "Postfix": 40, "qmail": 40, "Exim": 40,
                             "Unidentified": 40}
    assert agg["by_country"] == {"DE": 100, "ZZ": 100}
    open_relays = [r for r in answered if r.relay == "open-relay"]
    # Multiples of 7 below 300 (43) that are not multiples of 3 (15 are): 28.
    assert sum(agg["open_relays_by_mta"].values()) == len(open_relays) == 28
    assert agg["blacklisted_by_mta"] == {
        c or "Unidentified": sum(1 for r in answered if (r.category or "Unidentified")
                                 == (c or "Unidentified") and r.dnsbl_listed)
        for c in ("Sendmail", "Postfix", "qmail", "Exim", None)}
    assert agg["relay_tested"] == 28 and agg["dnsbl_tested"] == 200
    assert (agg["first_scanned_at"], agg["last_scanned_at"]) == (1.7e9, 1.7e9 + 299)
    # The SQL aggregate and replaying every record give the same statistics.
    from_sql = SurveyStats.from_aggregate(agg).snapshot()
    replayed = SurveyStats.from_records(records).snapshot()
    for field in ("scanned", "no_answer", "available", "rejected", "by_outcome",
                  "by_country", "by_mta", "open_relays_by_mta", "open_relays",
                  "blacklisted_by_mta", "blacklisted", "relay_tested", "dnsbl_tested"):
        assert getattr(from_sql, field) == getattr(replayed, field), field
    empty = store.create({})
    assert store.aggregate(empty)["scanned"] == 0
    assert store.aggregate(empty)["first_scanned_at"] is None


def test_a_failed_commit_leaves_memory_matching_the_file(tmp_path: Path) -> None:
    # The watermark state changes in place as a batch is written; when the commit fails
    # (here: a trigger aborts the second survey's UPDATE) it must be put back exactly, the
    # buffer kept, and the next flush must store everything once.
    path = tmp_path / "s.sqlite"
    store = SurveyStore(path, batch_size=1000, flush_interval=3600)
    a, b = store.create({}), store.create({})
    for seq in (0, 1, 2, 5, 6, 9):
        store.add(a, rec(seq))
    store.flush()
    for seq in (3, 4, 7, 5):  # closes the hole below 5 and 6; 5 again is a duplicate
        store.add(a, rec(seq))
    store.add(b, rec(0))
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TRIGGER fail BEFORE UPDATE OF watermark ON surveys "
                   f"WHEN NEW.id = {b} BEGIN SELECT RAISE(ABORT, 'boom'); END")
    with pytest.raises(sqlite3.IntegrityError, match="boom"):
        store.flush()
    assert raw_count(path, a) == 6 and raw_count(path, b) == 0
    assert store.pending == 5
    # Every read flushes (and so retries) first: look at the bookkeeping itself.
    progress = store._progress[a]
    assert (progress.watermark, progress.above) == (2, {5, 6, 9})
    with sqlite3.connect(path) as db:
        db.execute("DROP TRIGGER fail")
    assert store.watermark(a) == 7 and store.done_seqs_after(a, 7) == {9}
    assert store.watermark(b) == 0
    info = store.get(a)
    assert (info.stored, info.watermark) == (9, 7) and store.count(a) == 9
    store.add(a, rec(8))
    assert store.watermark(a) == 9 and store.done_seqs_after(a, 9) == set()
    store.close()


@settings(max_examples=300, deadline=None)
@given(start=st.integers(-1, 4), initial=st.sets(st.integers(0, 40), max_size=15),
       batches=st.lists(st.tuples(st.sets(st.integers(0, 60), max_size=20), st.booleans()),
                        max_size=12))
def test_progress_runs_behave_like_a_set(start: int, initial: set[int],
                                         batches: list[tuple[set[int], bool]]) -> None:
    # The watermark bookkeeping keeps runs of seqs, not a set; against a plain set model:
    # commits, commits undone (a failed transaction) and the state loaded on resume.
    done = set(range(start + 1)) | initial
    progress = _Progress(start, initial)

    def check() -> None:
        w = -1
        while w + 1 in done:
            w += 1
        assert progress.watermark == w
        assert progress.above == {s for s in done if s > w}
        assert all(progress.has(s) is (s in done) for s in range(70))
        pairs = list(zip(progress.starts, progress.ends, strict=True))
        assert all(a <= b for a, b in pairs)
        # Sorted and apart (adjacent runs would have been merged).
        assert all(b + 1 < c for (_, b), (c, _) in zip(pairs, pairs[1:], strict=False))
        assert not pairs or pairs[0][0] > w + 1

    check()
    for seqs, fails in batches:
        fresh = {s for s in seqs if not progress.has(s)}
        state = progress.commit(fresh)
        if fails:
            progress.undo(state)
        else:
            done |= fresh
        check()


def test_delete(store: SurveyStore) -> None:
    sid = store.create({})
    keep = store.create({})
    for seq in range(5):
        store.add(sid, rec(seq))
        store.add(keep, rec(seq))
    store.flush()
    store.delete(sid)
    with pytest.raises(StoreError):
        store.get(sid)
    assert store.count(sid) == 0 and store.count(keep) == 5


def test_missing_directory_is_created_and_bad_file_is_an_error(tmp_path: Path) -> None:
    SurveyStore(tmp_path / "a" / "b" / "s.sqlite").close()
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="junk.sqlite"):
        SurveyStore(junk)


# -- crash safety: a real subprocess, SIGKILLed ----------------------------------------------------


def _spawn(path: Path, sid: int, n: int, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(sid), str(n), mode],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _check_consistent(store: SurveyStore, sid: int) -> tuple[int, set[int]]:
    """Every committed record intact; watermark and done set agree with the table."""
    stored = list(store.records(sid))
    seqs = [r.seq for r in stored]
    assert len(seqs) == len(set(seqs))
    for r in stored:
        assert r == rec(r.seq)
    w = store.watermark(sid)
    assert set(range(w + 1)) <= set(seqs) and w + 1 not in seqs
    done = store.done_seqs_after(sid, w)
    assert done == set(seqs) - set(range(w + 1))
    info = store.get(sid)
    assert info.watermark == w and info.stored == len(seqs)
    assert info.available == sum(1 for r in stored if r.outcome is Outcome.ANSWERED)
    return w, done


def _resume(store: SurveyStore, sid: int, n: int) -> int:
    """What the engine does on resume: walk the source again, skip what is done."""
    w = store.watermark(sid)
    done = store.done_seqs_after(sid, w)
    rescanned = 0
    for seq in range(n):
        if seq <= w or seq in done:
            continue
        store.add(sid, rec(seq))
        rescanned += 1
    store.flush()
    return rescanned


def _finish_and_check(store: SurveyStore, sid: int, n: int, committed: int) -> None:
    assert _resume(store, sid, n) == n - committed
    assert store.count(sid) == n
    with sqlite3.connect(store.path) as db:
        distinct, total = db.execute("SELECT COUNT(DISTINCT seq), COUNT(*) FROM records "
                                     "WHERE survey_id = ?", (sid,)).fetchone()
    assert distinct == total == n
    assert store.watermark(sid) == n - 1 and store.done_seqs_after(sid, n - 1) == set()
    assert [r.seq for r in store.records(sid)] == list(range(n))
    # Scanning a finished target again cannot add a second record.
    store.add(sid, SurveyRecord(seq=7, address="6.6.6.6", source="x", outcome=Outcome.RESET))
    store.flush()
    assert store.count(sid) == n and next(r for r in store.records(sid) if r.seq == 7) == rec(7)


def test_sigkill_loses_only_the_uncommitted_buffer(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with SurveyStore(path) as parent:
        sid = parent.create({"source": "lab"})
    proc = _spawn(path, sid, 2000, "hang")
    try:
        lines = []
        while True:
            line = proc.stdout.readline()
            assert line, f"writer died: {proc.stderr.read()}"
            lines.append(line.split())
            if line.startswith("buffered"):
                break
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    assert lines == [["committed", str(k * 100)] for k in range(1, 6)] + [["buffered", "37"]]
    store = SurveyStore(path)
    try:
        assert store.get(sid).state == "crashed"  # marked running; its process is gone
        w, done = _check_consistent(store, sid)
        committed = order(2000)[:500]
        assert {r.seq for r in store.records(sid)} == set(committed)  # the 37 are gone
        assert done  # finished out of order: seqs above the watermark were committed
        _finish_and_check(store, sid, 2000, committed=500)
    finally:
        store.close()


def test_sigkill_at_an_arbitrary_moment(tmp_path: Path) -> None:
    """Killed while writing flat out (possibly inside a commit): batches are all or
    nothing, every reported commit is there, and resume completes the set exactly."""
    path = tmp_path / "s.sqlite"
    n = 50_000
    with SurveyStore(path) as parent:
        sid = parent.create({"source": "lab"})
    proc = _spawn(path, sid, n, "run")
    try:
        reported = 0
        for _ in range(3):
            line = proc.stdout.readline()
            assert line.startswith("committed"), f"writer: {line!r} {proc.stderr.read()}"
            reported = int(line.split()[1])
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    store = SurveyStore(path)
    try:
        _check_consistent(store, sid)
        count = store.count(sid)
        assert reported <= count < n
        assert count % 100 == 0  # whole batches only: no torn commit
        assert {r.seq for r in store.records(sid)} == set(order(n)[:count])
        _finish_and_check(store, sid, n, committed=count)
    finally:
        store.close()


def test_random_finish_orders_keep_the_watermark_exact(tmp_path: Path) -> None:
    """Property: whatever order seqs finish in and wherever batches end, the watermark is
    the length of the committed prefix and the done set is the rest."""
    rng = random.Random(11)
    store = SurveyStore(tmp_path / "s.sqlite", batch_size=37, flush_interval=3600)
    for _trial in range(5):
        sid = store.create({})
        seqs = order(600, window=rng.randint(1, 120), seed=rng.randint(0, 10**6))
        cut = rng.randint(0, 600)
        for seq in seqs[:cut]:
            store.add(sid, rec(seq))
        store.flush()
        committed = set(seqs[:cut])
        w = store.watermark(sid)
        prefix = 0
        while prefix in committed:
            prefix += 1
        assert w == prefix - 1
        assert store.done_seqs_after(sid, w) == {s for s in committed if s > w}
    store.close()
