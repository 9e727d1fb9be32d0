"""The survey store: one SQLite file (WAL) holding every survey and every record.

Records are buffered and written in batches (one ``executemany`` in one transaction per
≤ ``batch_size`` records or ≤ ``flush_interval`` seconds, whichever comes first), so a
million-target survey costs a few thousand commits. The watermark — the highest seq W
such that every seq ≤ W is stored — is kept incrementally (seqs finished out of order
wait as a few runs of seqs until the gap below them closes) and written in the same
transaction as the batch, so the watermark never claims a record that is not there.

Crash safety: a commit is all or nothing (WAL); SIGKILL or a power cut loses at most the
uncommitted buffer. Resume = iterate the source again and skip seq ≤ watermark and the
seqs in ``done_seqs_after(watermark)``; a target scanned twice anyway cannot be stored
twice (UNIQUE(survey_id, seq) + INSERT OR IGNORE keeps the first record).

Reads (get, list, watermark, done_seqs_after, count, records, aggregate) flush the buffer
first, so they always see every record added so far.

Threads: every public method takes an internal lock, so the store may be shared by
threads, but calls are serialised (SQLite writes are anyway). Use one SurveyStore per
process as the writer of a given survey: the in-memory watermark state is per object.
Other processes may read the same file concurrently (WAL readers do not block the writer).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui.config import default_data_dir
from tui.survey.record import Outcome, SurveyRecord
from tui.survey.stats import UNIDENTIFIED, UNKNOWN_COUNTRY

STATES = ("running", "paused", "stopped", "finished", "crashed")
BATCH_SIZE = 500
FLUSH_INTERVAL = 0.5  # seconds
_PAGE = 1000  # records fetched per query when streaming

_SCHEMA = """
CREATE TABLE IF NOT EXISTS surveys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    params      TEXT    NOT NULL,            -- JSON: source spec, port, options
    created     REAL    NOT NULL,
    updated     REAL    NOT NULL,
    finished    REAL,
    state       TEXT    NOT NULL,
    watermark   INTEGER NOT NULL DEFAULT -1, -- every seq <= watermark is stored
    total_hint  INTEGER,                     -- targets expected, when known
    stored      INTEGER NOT NULL DEFAULT 0,  -- records stored
    available   INTEGER NOT NULL DEFAULT 0,  -- of which answered (a 2xx greeting)
    pid         INTEGER                      -- writer process while running
);
CREATE TABLE IF NOT EXISTS records (
    survey_id    INTEGER NOT NULL REFERENCES surveys(id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    address      TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    outcome      TEXT    NOT NULL,
    greeting     TEXT    NOT NULL DEFAULT '',
    category     TEXT,
    vendor       TEXT,
    product      TEXT,
    version      TEXT,
    country      TEXT,
    relay        TEXT,
    dnsbl_listed INTEGER,
    connect_ms   REAL,
    greeting_ms  REAL,
    scanned_at   REAL    NOT NULL,
    UNIQUE (survey_id, seq)
);
"""

_COLUMNS = ("seq", "address", "source", "outcome", "greeting", "category", "vendor", "product",
            "version", "country", "relay", "dnsbl_listed", "connect_ms", "greeting_ms",
            "scanned_at")
_INSERT = (f"INSERT OR IGNORE INTO records (survey_id, {', '.join(_COLUMNS)}) "
           f"VALUES (?, {', '.join('?' * len(_COLUMNS))})")
# Most survey records (no answer) have no greeting and no identification: binding nine
# NULLs per row is about 40 % of the insert's cost, so those rows leave them to the
# column defaults (measured: 4.9 → 2.8 µs per row).
_SHORT_COLUMNS = ("seq", "address", "source", "outcome", "connect_ms", "greeting_ms",
                  "scanned_at")
_INSERT_SHORT = (f"INSERT OR IGNORE INTO records (survey_id, {', '.join(_SHORT_COLUMNS)}) "
                 f"VALUES (?, {', '.join('?' * len(_SHORT_COLUMNS))})")
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM records"


class StoreError(RuntimeError):
    """The store file cannot be used, or a survey id does not exist."""


@dataclass(frozen=True, slots=True)
class SurveyInfo:
    id: int
    params: dict[str, Any]
    created: float
    updated: float
    finished: float | None
    state: str  # one of STATES; "crashed" = marked running, but its process is gone
    watermark: int
    total: int | None  # targets expected, when the source knew
    stored: int  # records stored
    available: int  # records with an answered (2xx) greeting


def default_store_path() -> Path:
    return default_data_dir() / "surveys.sqlite"


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _row(survey_id: int, r: SurveyRecord) -> tuple:
    return (survey_id, r.seq, r.address, r.source, str(r.outcome), r.greeting, r.category,
            r.vendor, r.product, r.version, r.country, r.relay, r.dnsbl_listed, r.connect_ms,
            r.greeting_ms, r.scanned_at)


def _short_row(survey_id: int, r: SurveyRecord) -> tuple | None:
    """The row for _INSERT_SHORT, or None when the record has more than it holds."""
    if (r.greeting or r.category is not None or r.country is not None or r.relay is not None
            or r.dnsbl_listed is not None or r.vendor is not None or r.product is not None
            or r.version is not None):
        return None
    return (survey_id, r.seq, r.address, r.source, str(r.outcome), r.connect_ms,
            r.greeting_ms, r.scanned_at)


def _record(row: tuple) -> SurveyRecord:
    (seq, address, source, outcome, greeting, category, vendor, product, version, country,
     relay, dnsbl_listed, connect_ms, greeting_ms, scanned_at) = row
    return SurveyRecord(seq=seq, address=address, source=source, outcome=Outcome(outcome),
                        greeting=greeting, category=category, vendor=vendor, product=product,
                        version=version, country=country, relay=relay,
                        dnsbl_listed=dnsbl_listed, connect_ms=connect_ms,
                        greeting_ms=greeting_ms, scanned_at=scanned_at)


class _Progress:
    """Watermark bookkeeping for one survey: W, and the committed seqs above W kept as
    sorted, disjoint, non-adjacent runs ``[starts[i], ends[i]]``.

    Runs, not a set of seqs: while one slow target holds W (a silent server costs the
    whole greeting timeout), every target finished meanwhile is committed above it — at
    20,000 targets/s and a 10 s timeout, 200,000 seqs, 15 MB as a set of ints — but they
    form a handful of runs between the few targets still in flight. Changed in place
    when a batch commits and put back exactly (``undo``) if the commit fails, so memory
    always matches the file. (An earlier version also copied the set per flush.)"""

    __slots__ = ("watermark", "starts", "ends")

    def __init__(self, watermark: int, seqs: Iterable[int] = ()) -> None:
        self.watermark = watermark
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.commit({s for s in seqs if s > watermark})

    def has(self, seq: int) -> bool:
        """Is ``seq`` committed?"""
        if seq <= self.watermark:
            return True
        ends = self.ends
        if not ends or seq > ends[-1]:
            return False  # the usual case: a seq above everything committed
        i = bisect_right(self.starts, seq) - 1
        return i >= 0 and seq <= ends[i]

    @property
    def above(self) -> set[int]:
        """The committed seqs above W as a set (for tests and debugging)."""
        return {s for a, b in zip(self.starts, self.ends, strict=True) for s in range(a, b + 1)}

    def commit(self, seqs: set[int]) -> tuple[int, list[tuple[int, int]]]:
        """Add newly stored ``seqs`` (none of them committed before) and advance W;
        returns what ``undo`` needs."""
        runs = _runs(sorted(seqs))
        for a, b in runs:
            self._insert(a, b)
        old = self.watermark
        starts = self.starts
        # Runs are non-adjacent, so at most the first one can continue W.
        if starts and starts[0] == old + 1:
            self.watermark = self.ends[0]
            del starts[0]
            del self.ends[0]
        return old, runs

    def undo(self, state: tuple[int, list[tuple[int, int]]]) -> None:
        """Reverse the ``commit`` that returned ``state``."""
        old, runs = state
        if self.watermark > old:  # the run W absorbed comes back (not adjacent to the next)
            self.starts.insert(0, old + 1)
            self.ends.insert(0, self.watermark)
            self.watermark = old
        for a, b in runs:
            self._remove(a, b)

    def _insert(self, a: int, b: int) -> None:
        starts, ends = self.starts, self.ends
        if ends and a == ends[-1] + 1:  # the usual case: extends the highest run
            ends[-1] = b
            return
        i = bisect_right(starts, a)
        joins_left = i > 0 and ends[i - 1] == a - 1
        joins_right = i < len(starts) and starts[i] == b + 1
        if joins_left and joins_right:
            ends[i - 1] = ends[i]
            del starts[i]
            del ends[i]
        elif joins_left:
            ends[i - 1] = b
        elif joins_right:
            starts[i] = a
        else:
            starts.insert(i, a)
            ends.insert(i, b)

    def _remove(self, a: int, b: int) -> None:
        starts, ends = self.starts, self.ends
        i = bisect_right(starts, a) - 1  # the run holding [a, b]
        first, last = starts[i], ends[i]
        pieces = ([(first, a - 1)] if first < a else []) + ([(b + 1, last)] if b < last else [])
        starts[i:i + 1] = [p[0] for p in pieces]
        ends[i:i + 1] = [p[1] for p in pieces]


def _runs(ordered: list[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 7, 8] -> [(1, 3), (7, 8)]"""
    runs: list[tuple[int, int]] = []
    if not ordered:
        return runs
    a = b = ordered[0]
    for seq in ordered[1:]:
        if seq == b + 1:
            b = seq
        else:
            runs.append((a, b))
            a = b = seq
    runs.append((a, b))
    return runs


class _Pending:
    """One survey's buffered records, already reduced to the rows to insert: the first
    record per seq, none committed before (one writer per survey, so the in-memory
    watermark knows them exactly; OR IGNORE still guards the table itself)."""

    __slots__ = ("progress", "seqs", "full", "short", "answered", "added")

    def __init__(self, progress: _Progress) -> None:
        self.progress = progress
        self.seqs: set[int] = set()  # seqs of the rows below
        self.full: list[tuple] = []  # rows for _INSERT
        self.short: list[tuple] = []  # rows for _INSERT_SHORT
        self.answered = 0  # of which Outcome.ANSWERED
        self.added = 0  # records added, duplicates included (SurveyStore.pending)


class SurveyStore:
    """See the module docstring. Open with a path (``":memory:"`` works for one object)."""

    def __init__(self, path: str | Path | None = None, *, batch_size: int = BATCH_SIZE,
                 flush_interval: float = FLUSH_INTERVAL) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.batch_size = max(1, batch_size)
        self.flush_interval = flush_interval
        self._lock = threading.RLock()
        try:
            # Autocommit mode: transactions are opened explicitly around each batch.
            self._db = sqlite3.connect(str(self.path), isolation_level=None,
                                       check_same_thread=False, timeout=10.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL: a commit survives a process crash (SIGKILL); only an OS crash
            # or power cut can lose the last few commits, never corrupt the file.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"survey store {self.path}: {exc}") from None
        self._buffer: dict[int, _Pending] = {}
        self._buffered = 0
        self._last_flush = time.monotonic()
        self._progress: dict[int, _Progress] = {}

    # -- surveys ------------------------------------------------------------------------------

    def create(self, params: dict[str, Any], *, total: int | None = None,
               state: str = "running") -> int:
        """A new survey; ``params`` is stored as JSON (source spec, port, options)."""
        _check_state(state)
        now = time.time()
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO surveys (params, created, updated, state, total_hint, pid) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (json.dumps(params, sort_keys=True, default=str), now, now, state, total,
                 os.getpid() if state == "running" else None))
            survey_id = int(cur.lastrowid or 0)
            self._progress[survey_id] = _Progress(-1)
            return survey_id

    def _info(self, row: tuple) -> SurveyInfo:
        (sid, params, created, updated, finished, state, watermark, total, stored, available,
         pid) = row
        if state == "running" and not _pid_alive(pid):
            state = "crashed"
        return SurveyInfo(id=sid, params=json.loads(params), created=created, updated=updated,
                          finished=finished, state=state, watermark=watermark, total=total,
                          stored=stored, available=available)

    _INFO_SQL = ("SELECT id, params, created, updated, finished, state, watermark, total_hint, "
                 "stored, available, pid FROM surveys")

    def get(self, survey_id: int) -> SurveyInfo:
        with self._lock:
            self._flush_locked()
            row = self._db.execute(self._INFO_SQL + " WHERE id = ?", (survey_id,)).fetchone()
        if row is None:
            raise StoreError(f"no survey with id {survey_id}")
        return self._info(row)

    def list(self) -> list[SurveyInfo]:
        """All surveys, newest first."""
        with self._lock:
            self._flush_locked()
            rows = self._db.execute(self._INFO_SQL + " ORDER BY id DESC").fetchall()
        return [self._info(r) for r in rows]

    def set_state(self, survey_id: int, state: str) -> None:
        """Record the survey's state; "running" claims it for this process (a later reader
        sees "crashed" if the process dies without setting another state)."""
        _check_state(state)
        with self._lock:
            self._flush_locked()
            now = time.time()
            cur = self._db.execute(
                "UPDATE surveys SET state = ?, updated = ?, pid = ?, "
                "finished = CASE WHEN ? = 'finished' THEN ? ELSE finished END WHERE id = ?",
                (state, now, os.getpid() if state == "running" else None, state, now, survey_id))
            if cur.rowcount == 0:
                raise StoreError(f"no survey with id {survey_id}")

    def set_total(self, survey_id: int, total: int | None) -> None:
        with self._lock:
            self._db.execute("UPDATE surveys SET total_hint = ? WHERE id = ?", (total, survey_id))

    def delete(self, survey_id: int) -> None:
        with self._lock:
            dropped = self._buffer.pop(survey_id, None)
            self._buffered -= dropped.added if dropped is not None else 0
            self._progress.pop(survey_id, None)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM records WHERE survey_id = ?", (survey_id,))
                self._db.execute("DELETE FROM surveys WHERE id = ?", (survey_id,))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- records ------------------------------------------------------------------------------

    def add(self, survey_id: int, record: SurveyRecord) -> None:
        """Buffer a record; the buffer is committed when full or older than flush_interval.
        An unknown survey id raises StoreError here, not later inside a batch."""
        with self._lock:
            pending = self._buffer.get(survey_id)
            if pending is None:
                pending = self._buffer[survey_id] = _Pending(self._progress_for(survey_id))
            pending.added += 1
            self._buffered += 1
            seq = record.seq
            progress = pending.progress
            if not progress.has(seq) and seq not in pending.seqs:
                pending.seqs.add(seq)
                if record.outcome is Outcome.ANSWERED:
                    pending.answered += 1
                row = _short_row(survey_id, record)
                if row is None:
                    pending.full.append(_row(survey_id, record))
                else:
                    pending.short.append(row)
            if (self._buffered >= self.batch_size
                    or time.monotonic() - self._last_flush >= self.flush_interval):
                self._flush_locked()

    def flush_if_due(self) -> bool:
        """Commit the buffer if it has waited flush_interval; for a caller's timer, so a
        quiet spell (every target in flight timing out) does not leave records pending."""
        with self._lock:
            if self._buffered and time.monotonic() - self._last_flush >= self.flush_interval:
                self._flush_locked()
                return True
            return False

    def flush(self) -> None:
        """Commit the buffer now."""
        with self._lock:
            self._flush_locked()

    @property
    def pending(self) -> int:
        """Records buffered but not yet committed."""
        return self._buffered

    def _progress_for(self, survey_id: int) -> _Progress:
        progress = self._progress.get(survey_id)
        if progress is None:
            row = self._db.execute("SELECT watermark FROM surveys WHERE id = ?",
                                   (survey_id,)).fetchone()
            if row is None:
                raise StoreError(f"no survey with id {survey_id}")
            above = {s for (s,) in self._db.execute(
                "SELECT seq FROM records WHERE survey_id = ? AND seq > ?", (survey_id, row[0]))}
            progress = self._progress[survey_id] = _Progress(row[0], above)
        return progress

    def _flush_locked(self) -> None:
        self._last_flush = time.monotonic()
        if not self._buffered:
            return
        batches = [(sid, p) for sid, p in self._buffer.items() if p.seqs]
        if batches:
            db = self._db
            done: list[tuple[_Progress, Any]] = []  # to undo if the commit fails
            db.execute("BEGIN IMMEDIATE")
            try:
                now = time.time()
                for survey_id, pending in batches:
                    before = db.total_changes
                    if pending.full:
                        db.executemany(_INSERT, pending.full)
                    if pending.short:
                        db.executemany(_INSERT_SHORT, pending.short)
                    inserted = db.total_changes - before
                    progress = pending.progress
                    done.append((progress, progress.commit(pending.seqs)))
                    db.execute(
                        "UPDATE surveys SET watermark = ?, stored = stored + ?, "
                        "available = available + ?, updated = ? WHERE id = ?",
                        (progress.watermark, inserted, pending.answered, now, survey_id))
                db.execute("COMMIT")
            except BaseException:
                for progress, state in reversed(done):
                    progress.undo(state)
                db.execute("ROLLBACK")
                raise
        self._buffer = {}
        self._buffered = 0

    def watermark(self, survey_id: int) -> int:
        """Highest seq W with every seq ≤ W stored (-1 if none)."""
        with self._lock:
            self._flush_locked()
            return self._progress_for(survey_id).watermark

    def done_seqs_after(self, survey_id: int, watermark: int) -> set[int]:
        """Stored seqs above ``watermark`` (for resume: skip these too)."""
        with self._lock:
            self._flush_locked()
            return {s for (s,) in self._db.execute(
                "SELECT seq FROM records WHERE survey_id = ? AND seq > ?",
                (survey_id, watermark))}

    def count(self, survey_id: int) -> int:
        """Stored records (a COUNT, not the stored counter)."""
        with self._lock:
            self._flush_locked()
            return self._db.execute("SELECT COUNT(*) FROM records WHERE survey_id = ?",
                                    (survey_id,)).fetchone()[0]

    def records(self, survey_id: int) -> Iterator[SurveyRecord]:
        """Stored records in seq order, fetched a page at a time (keyset pagination, so
        no cursor stays open between pages and writes can go on meanwhile)."""
        self.flush()
        last = -1
        while True:
            with self._lock:
                rows = self._db.execute(
                    _SELECT + " WHERE survey_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                    (survey_id, last, _PAGE)).fetchall()
            if not rows:
                return
            for row in rows:
                yield _record(row)
            last = rows[-1][0]

    def aggregate(self, survey_id: int) -> dict[str, Any]:
        """The counters the statistics are rebuilt from on resume (SurveyStats.from_aggregate),
        by one GROUP BY pass over the survey's committed records (the buffer is flushed first):

        ``scanned``, ``available``; ``by_outcome`` {outcome: n}; ``by_mta`` {category: n} and
        ``by_country`` {code: n} over answered records ("Unidentified" for no category,
        "ZZ" for no country, as SurveyStats.add does); ``open_relays_by_mta`` (relay verdict
        "open-relay") and ``blacklisted_by_mta`` (listed on at least one DNSBL)
        {category: n}; ``relay_tested``, ``dnsbl_tested``; ``first_scanned_at``,
        ``last_scanned_at`` (None when there is no record).
        """
        with self._lock:
            self._flush_locked()
            rows = self._db.execute(
                "SELECT outcome, category, country, relay = 'open-relay', dnsbl_listed > 0, "
                "relay IS NOT NULL, dnsbl_listed IS NOT NULL, COUNT(*), "
                "MIN(scanned_at), MAX(scanned_at) FROM records WHERE survey_id = ? "
                "GROUP BY 1, 2, 3, 4, 5, 6, 7", (survey_id,)).fetchall()
        counters: dict[str, Counter[str]] = {
            key: Counter() for key in ("by_outcome", "by_mta", "by_country",
                                       "open_relays_by_mta", "blacklisted_by_mta")}
        relay_tested = dnsbl_tested = 0
        firsts: list[float] = []
        lasts: list[float] = []
        for (outcome, category, country, is_open, is_listed, has_relay, has_dnsbl, n,
             first, last) in rows:
            counters["by_outcome"][outcome] += n
            category = category or UNIDENTIFIED
            if outcome == Outcome.ANSWERED.value:
                counters["by_mta"][category] += n
                counters["by_country"][country or UNKNOWN_COUNTRY] += n
            if is_open:
                counters["open_relays_by_mta"][category] += n
            if is_listed:
                counters["blacklisted_by_mta"][category] += n
            relay_tested += n if has_relay else 0
            dnsbl_tested += n if has_dnsbl else 0
            firsts.append(first)
            lasts.append(last)
        by_outcome = counters["by_outcome"]
        return {
            "scanned": sum(by_outcome.values()),
            "available": by_outcome.get(Outcome.ANSWERED.value, 0),
            **{key: dict(counter) for key, counter in counters.items()},
            "relay_tested": relay_tested,
            "dnsbl_tested": dnsbl_tested,
            "first_scanned_at": min(firsts) if firsts else None,
            "last_scanned_at": max(lasts) if lasts else None,
        }

    # -- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        """Flush and close; safe to call twice."""
        with self._lock:
            if self._db is None:
                return
            try:
                self._flush_locked()
            finally:
                self._db.close()
                self._db = None  # type: ignore[assignment]

    def __enter__(self) -> SurveyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_state(state: str) -> None:
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}, not {state!r}")
