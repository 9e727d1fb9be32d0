"""Survey reports: exact numbers in every format on a known data set, hostile strings
escaped, raw records exported as a stream."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tui.survey import report
from tui.survey.record import Outcome, SurveyRecord
from tui.survey.stats import StatsSnapshot, SurveyStats
from tui.survey.store import SurveyInfo, SurveyStore

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def snapshot(**kw) -> StatsSnapshot:
    base = dict(scanned=0, no_answer=0, available=0, rejected=0,
                by_outcome={o.value: 0 for o in Outcome}, skipped=0, total=None,
                elapsed_s=0.0, rate=0.0, eta_s=None, by_country=(), by_mta=(),
                open_relays_by_mta=(), open_relays=0, blacklisted_by_mta=(), blacklisted=0,
                relay_tested=0, dnsbl_tested=0)
    base.update(kw)
    return StatsSnapshot(**base)


def info(**kw) -> SurveyInfo:
    base = dict(id=7, params={"source": {"kind": "cidr", "value": "127.0.0.0/16"}, "port": 2525},
                created=1_700_000_000.0, updated=1_700_003_600.0, finished=1_700_003_600.0,
                state="finished", watermark=9, total=10, stored=10, available=6)
    base.update(kw)
    return SurveyInfo(**base)


# The classic page's figures (its MTA shares applied to its available count).
CLASSIC = snapshot(
    scanned=2_818_895, no_answer=2_759_686, available=59_209,
    by_outcome={"answered": 59_209, "rejected": 0, "refused": 1_500_000,
                "timeout": 1_259_686, "reset": 0, "error": 0},
    by_country=(("DE", 2_960), ("JP", 2_368)),
    by_mta=(("Sendmail", 14_210), ("Postfix", 11_842), ("qmail", 10_066), ("Exim", 7_697),
            ("IMail", 1_184), ("InterMail", 592), ("Other", 2_960)),
)


def test_markdown_classic_page() -> None:
    text = report.render(info(), CLASSIC, "md")
    assert text.startswith("# Mail server survey 7\n")
    for line in (
        "| Total scanned | 2,818,895 | 100.00 % |",
        "| Did not respond | 2,759,686 | 97.90 % |",
        "| Available | 59,209 | 2.10 % |",
        "## Distribution by country",
        "| Germany (DE) | 2,960 | 5.00 % |",
        "| Japan (JP) | 2,368 | 4.00 % |",
        "## Distribution by MTA",
        "| Sendmail | 14,210 | 24.00 % |",
        "| Postfix | 11,842 | 20.00 % |",
        "| qmail | 10,066 | 17.00 % |",
        "| Exim | 7,697 | 13.00 % |",
        "| IMail | 1,184 | 2.00 % |",
        "| InterMail | 592 | 1.00 % |",
        "| Other | 2,960 | 5.00 % |",
        "| **Total** | **59,209** | |",
        "## Open relay servers per MTA",
        "Not tested (run the survey with --relay).",
        "## Blacklisted servers per MTA",
        "Not checked (run the survey with --dnsbl).",
        "- **Source:** 127.0.0.0/16",
        "- **State:** finished",
        "- **Started:** 2023-11-14 22:13 UTC",
        "- **Scan time:** 0 s",
        "- **Port:** 2525",
    ):
        assert line in text.splitlines(), line


# -- a small known survey, through the real store and the SQL aggregate ------------------------------


def known_records() -> list[SurveyRecord]:
    """10 targets: 6 answered (3 Postfix in DE, 2 Exim in JP, 1 unidentified without a
    country), 2 timeouts, 1 refused, 1 rejected. Relay tested on all answered: 2 open
    (Postfix, Exim); DNSBL on all answered: 3 listed (Postfix ×2, Exim)."""
    rows = [
        (Outcome.ANSWERED, "Postfix", "DE", "open-relay", 2),
        (Outcome.ANSWERED, "Postfix", "DE", "closed", 1),
        (Outcome.ANSWERED, "Postfix", "DE", "closed", 0),
        (Outcome.ANSWERED, "Exim", "JP", "open-relay", 3),
        (Outcome.ANSWERED, "Exim", "JP", "closed", 0),
        (Outcome.ANSWERED, None, None, "inconclusive", 0),
        (Outcome.TIMEOUT, None, None, None, None),
        (Outcome.TIMEOUT, None, None, None, None),
        (Outcome.REFUSED, None, None, None, None),
        (Outcome.REJECTED, None, None, None, None),
    ]
    return [SurveyRecord(seq=i, address=f"127.0.{i}.25", source="127.0.0.0/16",
                         outcome=o, greeting="220 mx ESMTP" if o is Outcome.ANSWERED else "",
                         category=c, country=cc, relay=relay, dnsbl_listed=listed,
                         connect_ms=1.5, greeting_ms=2.5 if o is Outcome.ANSWERED else None,
                         scanned_at=1_700_000_000.0 + i)
            for i, (o, c, cc, relay, listed) in enumerate(rows)]


@pytest.fixture
def known(tmp_path: Path):
    store = SurveyStore(tmp_path / "s.sqlite")
    sid = store.create({"source": {"kind": "cidr", "value": "127.0.0.0/16"}, "port": 2525},
                       total=10)
    for r in known_records():
        store.add(sid, r)
    store.set_state(sid, "finished")
    snap = SurveyStats.from_aggregate(store.aggregate(sid), total=10, clock=lambda: 0.0,
                                      elapsed_before=9.0).snapshot()
    yield store, store.get(sid), snap
    store.close()


KNOWN_CSV = """\
section,label,count,percent
summary,scanned,10,100.00
summary,no_answer,4,40.00
summary,available,6,60.00
outcome,answered,6,60.00
outcome,rejected,1,10.00
outcome,refused,1,10.00
outcome,timeout,2,20.00
outcome,reset,0,0.00
outcome,error,0,0.00
country,DE,3,50.00
country,JP,2,33.33
country,ZZ,1,16.67
mta,Postfix,3,50.00
mta,Exim,2,33.33
mta,Unidentified,1,16.67
open_relay,Postfix,1,50.00
open_relay,Exim,1,50.00
blacklisted,Postfix,2,66.67
blacklisted,Exim,1,33.33
"""


def test_csv_known(known) -> None:
    _store, survey, snap = known
    assert report.render(survey, snap, "csv") == KNOWN_CSV


def test_markdown_known(known) -> None:
    _store, survey, snap = known
    lines = report.render(survey, snap, "md").splitlines()
    for line in (
        "| Total scanned | 10 | 100.00 % |",
        "| Did not respond | 4 | 40.00 % |",
        "| Available | 6 | 60.00 % |",
        "| Rejected (4xx/5xx greeting) | 1 | 10.00 % |",
        "| Germany (DE) | 3 | 50.00 % |",
        "| Unknown | 1 | 16.67 % |",
        "| Unidentified | 1 | 16.67 % |",
        "6 servers tested; 2 servers relayed. Percentages are of the open relays found.",
        "| Postfix | 1 | 50.00 % |",
        "6 servers checked; 3 servers listed. Percentages are of the blacklisted servers found.",
        "| Postfix | 2 | 66.67 % |",
        "| **Total** | **3** | |",
        "- **Scan time:** 9 s",
        "- **Targets:** 10",
    ):
        assert line in lines, line


def test_json_known_has_stable_keys_and_exact_numbers(known) -> None:
    _store, survey, snap = known
    text = report.render(survey, snap, "json")
    assert text == report.render(survey, snap, "json")
    doc = json.loads(text)
    assert list(doc) == ["survey", "summary", "by_outcome", "by_country", "by_mta",
                         "open_relays_by_mta", "blacklisted_by_mta"]
    assert list(doc["survey"]) == ["id", "state", "source", "params", "created", "updated",
                                   "finished", "watermark", "total", "stored"]
    assert doc["survey"]["state"] == "finished" and doc["survey"]["stored"] == 10
    assert doc["survey"]["params"] == {"source": {"kind": "cidr", "value": "127.0.0.0/16"},
                                       "port": 2525}
    assert doc["summary"] == {
        "scanned": 10, "did_not_respond": 4, "available": 6,
        "did_not_respond_percent": 40.0, "available_percent": 60.0, "rejected": 1,
        "skipped": 0, "total": 10, "elapsed_s": 9.0, "open_relays": 2, "relay_tested": 6,
        "blacklisted": 3, "dnsbl_tested": 6}
    assert doc["by_country"] == [
        {"label": "DE", "name": "Germany (DE)", "count": 3, "percent": 50.0},
        {"label": "JP", "name": "Japan (JP)", "count": 2, "percent": 100 * 2 / 6},
        {"label": "ZZ", "name": "Unknown", "count": 1, "percent": 100 * 1 / 6}]
    assert doc["by_mta"] == [
        {"label": "Postfix", "count": 3, "percent": 50.0},
        {"label": "Exim", "count": 2, "percent": 100 * 2 / 6},
        {"label": "Unidentified", "count": 1, "percent": 100 * 1 / 6}]
    assert doc["open_relays_by_mta"] == [{"label": "Postfix", "count": 1, "percent": 50.0},
                                         {"label": "Exim", "count": 1, "percent": 50.0}]
    assert doc["blacklisted_by_mta"] == [
        {"label": "Postfix", "count": 2, "percent": 100 * 2 / 3},
        {"label": "Exim", "count": 1, "percent": 100 * 1 / 3}]
    assert [r["label"] for r in doc["by_outcome"]] == [o.value for o in Outcome]


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data) -> None:
        self.text.append(data)


def test_html_known(known) -> None:
    _store, survey, snap = known
    page = report.render(survey, snap, "html")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert ('<tr><th scope="row">Did not respond</th><td class="num">4</td>'
            '<td class="num">40.00&nbsp;%</td>'
            '<td class="bar"><span style="width:40.00%"></span></td></tr>') in page
    assert ('<tr><th scope="row">Postfix</th><td class="num">2</td>'
            '<td class="num">66.67&nbsp;%</td>') in page
    for section in ("summary", "outcome", "country", "mta", "open_relay", "blacklisted"):
        assert f'<section id="{section}">' in page
    assert "http://" not in page and "https://" not in page  # self-contained


def test_html_escapes_hostile_strings() -> None:
    snap = snapshot(scanned=3, available=3, no_answer=0,
                    by_outcome={"answered": 3}, by_country=((HOSTILE, 1), ("DE", 2)),
                    by_mta=((HOSTILE, 2), ("Postfix", 1)),
                    open_relays_by_mta=((HOSTILE, 1),), open_relays=1, relay_tested=3)
    survey = info(params={"source": {"kind": "file", "value": f'/tmp/"><b>{HOSTILE}.txt'},
                          "port": 25}, state=HOSTILE)
    page = report.render(survey, snap, "html")
    parser = TagCollector()
    parser.feed(page)
    assert set(parser.tags) <= {"html", "head", "meta", "title", "style", "body", "h1", "dl",
                                "dt", "dd", "section", "h2", "p", "table", "thead", "tbody",
                                "tfoot", "tr", "th", "td", "span"}
    assert not any(name.startswith("on") for name, _ in parser.attrs)
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    # The hostile text survives as text, intact, for the reader to see.
    assert sum(HOSTILE in chunk for chunk in parser.text) >= 4
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_markdown_escapes_table_breakers() -> None:
    snap = snapshot(scanned=2, available=2, by_outcome={"answered": 2},
                    by_mta=(("a|b|c\n| injected | row |", 1), (HOSTILE, 1)))
    text = report.render(info(), snap, "md")
    mta = text.split("## Distribution by MTA")[1].split("##")[0]
    table = [line for line in mta.splitlines() if line.startswith("|")]
    # Every row keeps exactly its four column separators (escaped pipes do not count).
    assert all(line.replace("\\|", "").count("|") == 4 for line in table)
    assert "| a\\|b\\|c \\| injected \\| row \\| | 1 | 50.00 % |" in table
    assert "<script>" not in text


def test_csv_neutralises_formulas() -> None:
    snap = snapshot(scanned=1, available=1, by_outcome={"answered": 1},
                    by_mta=(("=HYPERLINK(\"http://evil\",\"x\")", 1),))
    rows = list(csv.reader(io.StringIO(report.render(info(), snap, "csv"))))
    assert ["mta", "'=HYPERLINK(\"http://evil\",\"x\")", "1", "100.00"] in rows


def test_empty_survey_and_bad_format() -> None:
    empty = snapshot()
    for fmt in report.FORMATS:
        assert report.render(info(stored=0, available=0), empty, fmt)
    assert "| Available | 0 | 0.00 % |" in report.render(info(), empty, "md")
    with pytest.raises(ValueError, match="unknown report format 'pdf'"):
        report.render(info(), empty, "pdf")  # type: ignore[arg-type]


def test_describe_source() -> None:
    assert report.describe_source({"source": {"kind": "random", "count": 5, "seed": 2,
                                               "universe": "127.0.0.0/8"}}) == \
        "random sample of 5 (seed 2) from 127.0.0.0/8"
    assert report.describe_source({"source": {"kind": "stdin"}}) == "standard input"
    assert report.describe_source({"source": "targets.txt"}) == "targets.txt"
    assert report.describe_source({}) == ""


# -- raw export ------------------------------------------------------------------------------------


def test_export_csv_round_trip(known) -> None:
    store, survey, _snap = known
    out = io.StringIO()
    assert report.export_records(store, survey.id, "csv", out) == 10
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == list(report.RECORD_FIELDS)
    assert [r["seq"] for r in rows] == [str(i) for i in range(10)]
    first = rows[0]
    assert (first["address"], first["outcome"], first["category"], first["country"],
            first["relay"], first["dnsbl_listed"], first["greeting_ms"]) == (
        "127.0.0.25", "answered", "Postfix", "DE", "open-relay", "2", "2.5")
    assert rows[6]["category"] == "" and rows[6]["greeting_ms"] == ""  # None → empty


def test_export_json_round_trip(known) -> None:
    store, survey, _snap = known
    out = io.StringIO()
    assert report.export_records(store, survey.id, "json", out) == 10
    doc = json.loads(out.getvalue())
    expected = known_records()
    assert len(doc) == 10
    for item, r in zip(doc, expected, strict=True):
        assert list(item) == list(report.RECORD_FIELDS)
        assert SurveyRecord(**{**item, "outcome": Outcome(item["outcome"])}) == r


def test_export_hostile_greetings(tmp_path: Path) -> None:
    store = SurveyStore(tmp_path / "s.sqlite")
    sid = store.create({})
    greeting = "=cmd|' /C calc'!A0\n220 second line\x00 with NUL, \"quotes\""
    store.add(sid, SurveyRecord(seq=0, address="127.0.0.1", source="x",
                                outcome=Outcome.ANSWERED, greeting=greeting,
                                product="@SUM(1+1)", category="Other"))
    csv_out, json_out = io.StringIO(), io.StringIO()
    report.export_records(store, sid, "csv", csv_out)
    report.export_records(store, sid, "json", json_out)
    row = next(csv.DictReader(io.StringIO(csv_out.getvalue())))
    assert row["greeting"] == "'" + greeting
    assert row["product"] == "'@SUM(1+1)"
    assert json.loads(json_out.getvalue())[0]["greeting"] == greeting  # JSON: verbatim
    empty = store.create({})
    json_out = io.StringIO()
    assert report.export_records(store, empty, "json", json_out) == 0
    assert json.loads(json_out.getvalue()) == []
    with pytest.raises(ValueError, match="unknown export format"):
        report.export_records(store, sid, "xml", io.StringIO())  # type: ignore[arg-type]
    store.close()


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_streams(tmp_path: Path, fmt: str) -> None:
    """Rows reach the output while the store is still being read: nothing accumulates."""
    store = SurveyStore(tmp_path / "s.sqlite")
    sid = store.create({})
    for seq in range(3000):
        store.add(sid, SurveyRecord(seq=seq, address="127.0.0.1", source="x",
                                    outcome=Outcome.TIMEOUT))
    read = 0
    original = store.records

    def counting(survey_id: int):
        nonlocal read
        for r in original(survey_id):
            read += 1
            yield r

    store.records = counting  # type: ignore[method-assign]
    reads_at_write: list[int] = []

    class Out(io.StringIO):
        def write(self, s: str) -> int:
            reads_at_write.append(read)
            return super().write(s)

    out = Out()
    assert report.export_records(store, sid, fmt, out) == 3000
    assert read == 3000
    # The first record was written when only the first record had been read.
    assert 1 in reads_at_write and min(r for r in reads_at_write if r) == 1
    store.close()
