"""Survey reports: the classic statistics page (summary and four distributions) as
Markdown, a self-contained HTML page, CSV or JSON; and a streamed export of raw records.

The numbers come from a StatsSnapshot (live, or rebuilt from the store's aggregate), so a
report of a finished survey and the live panels agree. Percentages follow the classic
page: "did not respond" and "available" over everything scanned; countries and MTAs over
available servers; open relays per MTA over all open relays found; blacklisted per MTA
over all blacklisted servers found.

Everything that reaches a report may come from a stranger (a greeting, a GeoIP label, a
file name in the parameters), so every format escapes it: HTML entities (and a CSP that
forbids scripts, in case), Markdown table metacharacters, CSV cells that a spreadsheet
would run as a formula.
"""

from __future__ import annotations

import csv
import html
import io
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal, TextIO

from tui.probes.countries import country_name
from tui.survey.record import Outcome, SurveyRecord
from tui.survey.stats import UNKNOWN_COUNTRY, StatsSnapshot
from tui.survey.store import SurveyInfo, SurveyStore

Format = Literal["md", "html", "csv", "json"]
FORMATS: tuple[str, ...] = ("md", "html", "csv", "json")
EXPORT_FORMATS: tuple[str, ...] = ("csv", "json")
RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(SurveyRecord))


@dataclass(frozen=True, slots=True)
class Row:
    key: str  # machine label: a country code, a category, an outcome, a summary key
    label: str  # what a person reads
    count: int
    percent: float  # of the section's base; 0.0 when the base is 0


@dataclass(frozen=True, slots=True)
class Section:
    id: str  # summary, outcome, country, mta, open_relay, blacklisted
    title: str
    base: int  # what the percentages are of (the Total row)
    rows: tuple[Row, ...]
    context: str = ""  # one line under the heading: what the percentages are of
    note: str = ""  # instead of a table: e.g. "not tested: run with --relay"


OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.ANSWERED: "Answered (2xx greeting)",
    Outcome.REJECTED: "Rejected (4xx/5xx greeting)",
    Outcome.REFUSED: "Connection refused",
    Outcome.TIMEOUT: "Timed out",
    Outcome.RESET: "Connection reset",
    Outcome.ERROR: "Error",
}


def _pct(count: int, of: int) -> float:
    return StatsSnapshot.pct(count, of)


def _country_label(code: str) -> str:
    if code == UNKNOWN_COUNTRY:
        return "Unknown"
    name = country_name(code)
    return f"{name} ({code})" if name else code


def _rows(pairs: Iterable[tuple[str, int]], base: int, label=lambda k: k) -> tuple[Row, ...]:
    return tuple(Row(k, label(k), n, _pct(n, base)) for k, n in pairs)


def sections(snapshot: StatsSnapshot) -> tuple[Section, ...]:
    """The report's content, format-independent."""
    s = snapshot
    summary = (
        Row("scanned", "Total scanned", s.scanned, _pct(s.scanned, s.scanned)),
        Row("no_answer", "Did not respond", s.no_answer, _pct(s.no_answer, s.scanned)),
        Row("available", "Available", s.available, _pct(s.available, s.scanned)),
    )
    outcomes = tuple(
        Row(o.value, OUTCOME_LABELS[o], s.by_outcome.get(o.value, 0),
            _pct(s.by_outcome.get(o.value, 0), s.scanned))
        for o in Outcome)
    relay_note = "" if s.relay_tested else "Not tested (run the survey with --relay)."
    dnsbl_note = "" if s.dnsbl_tested else "Not checked (run the survey with --dnsbl)."
    over_available = "Percentages are of the available servers."
    return (
        Section("summary", "Summary", s.scanned, summary),
        Section("outcome", "Outcome of every connection", s.scanned, outcomes,
                "Percentages are of all servers scanned."),
        Section("country", "Distribution by country", s.available,
                _rows(s.by_country, s.available, _country_label), over_available),
        Section("mta", "Distribution by MTA", s.available, _rows(s.by_mta, s.available),
                over_available),
        Section("open_relay", "Open relay servers per MTA", s.open_relays,
                _rows(s.open_relays_by_mta, s.open_relays),
                f"{_servers(s.relay_tested)} tested; {_servers(s.open_relays)} relayed. "
                "Percentages are of the open relays found.", relay_note),
        Section("blacklisted", "Blacklisted servers per MTA", s.blacklisted,
                _rows(s.blacklisted_by_mta, s.blacklisted),
                f"{_servers(s.dnsbl_tested)} checked; {_servers(s.blacklisted)} listed. "
                "Percentages are of the blacklisted servers found.", dnsbl_note),
    )


def _servers(n: int) -> str:
    return f"{n:,} server" if n == 1 else f"{n:,} servers"


# -- describing the survey -------------------------------------------------------------------


def describe_source(params: dict[str, Any]) -> str:
    """One line for the survey's source, from its stored parameters."""
    src = params.get("source")
    if isinstance(src, dict):
        kind = src.get("kind")
        if kind == "random":
            text = f"random sample of {src.get('count')} (seed {src.get('seed')})"
            return text + (f" from {src['universe']}" if src.get("universe") else "")
        if kind == "stdin":
            return "standard input"
        return str(src.get("value", ""))
    return "" if src is None else str(src)


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts)) if ts else "—"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else (f"{m} min {s:02d} s" if m else f"{s} s")


def _meta(info: SurveyInfo, snapshot: StatsSnapshot) -> list[tuple[str, str]]:
    items = [("Source", describe_source(info.params)), ("State", info.state),
             ("Started", _when(info.created)), ("Last update", _when(info.updated))]
    if info.finished:
        items.append(("Finished", _when(info.finished)))
    items.append(("Scan time", _duration(snapshot.elapsed_s)))
    if snapshot.total is not None:
        items.append(("Targets", f"{snapshot.total:,}"))
    if snapshot.skipped:
        items.append(("Skipped (reserved, excluded, unresolvable)", f"{snapshot.skipped:,}"))
    port = info.params.get("port") or (info.params.get("options") or {}).get("port")
    if port:
        items.append(("Port", str(port)))
    return items


# -- Markdown ------------------------------------------------------------------------------------

_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]<>|~"})


def _md(text: str) -> str:
    """Inline text safe in a Markdown table cell: metacharacters escaped, one line."""
    return " ".join(str(text).split()).translate(_MD_SPECIAL)


def _render_md(info: SurveyInfo, snapshot: StatsSnapshot) -> str:
    out = [f"# Mail server survey {info.id}", ""]
    out += [f"- **{_md(k)}:** {_md(v)}" for k, v in _meta(info, snapshot)]
    for sec in sections(snapshot):
        out += ["", f"## {sec.title}", ""]
        if sec.note:
            out += [_md(sec.note)]
            continue
        if sec.context:
            out += [_md(sec.context), ""]
        head = "" if sec.id == "summary" else ("Country" if sec.id == "country" else
                                              "Outcome" if sec.id == "outcome" else "MTA")
        out += [f"| {head} | Servers | % |", "|---|---:|---:|"]
        out += [f"| {_md(r.label)} | {r.count:,} | {r.percent:.2f} % |" for r in sec.rows]
        if sec.id != "summary":
            out.append(f"| **Total** | **{sec.base:,}** | |")
    return "\n".join(out) + "\n"


# -- HTML ----------------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.45 system-ui,sans-serif;max-width:56rem;margin:2rem auto;padding:0 1rem;
color:#1d2330;background:#fff}
h1{font-size:1.6rem;margin-bottom:.3rem}h2{font-size:1.15rem;margin:2rem 0 .5rem}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;color:#4a5265}
dl.meta dt{font-weight:600}dl.meta dd{margin:0}
table{border-collapse:collapse;width:100%}th,td{padding:.25rem .5rem;text-align:left;
border-bottom:1px solid #e3e6ee}td.num{text-align:right;font-variant-numeric:tabular-nums;
white-space:nowrap}td.bar{width:40%}td.bar span{display:block;height:.8rem;
background:#3b7dd8;border-radius:2px;min-width:1px}tfoot td,tfoot th{font-weight:600;
border-bottom:none}p.note{color:#7a8194;font-style:italic}p.context{color:#4a5265}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _render_html(info: SurveyInfo, snapshot: StatsSnapshot) -> str:
    title = f"Mail server survey {info.id}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        # Defence in depth: even if something slipped through escaping, nothing runs and
        # nothing is fetched.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        'style-src \'unsafe-inline\'">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{_e(title)}</h1>",
        '<dl class="meta">',
    ]
    parts += [f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in _meta(info, snapshot)]
    parts.append("</dl>")
    for sec in sections(snapshot):
        parts += [f'<section id="{_e(sec.id)}">', f"<h2>{_e(sec.title)}</h2>"]
        if sec.note:
            parts += [f'<p class="note">{_e(sec.note)}</p>', "</section>"]
            continue
        if sec.context:
            parts.append(f'<p class="context">{_e(sec.context)}</p>')
        parts += ["<table>", "<thead><tr><th></th><th>Servers</th><th>%</th><th></th></tr>"
                  "</thead>", "<tbody>"]
        for r in sec.rows:
            width = max(0.0, min(100.0, r.percent))
            parts.append(
                f'<tr><th scope="row">{_e(r.label)}</th><td class="num">{r.count:,}</td>'
                f'<td class="num">{r.percent:.2f}&nbsp;%</td>'
                f'<td class="bar"><span style="width:{width:.2f}%"></span></td></tr>')
        parts.append("</tbody>")
        if sec.id != "summary":
            parts.append(f'<tfoot><tr><th scope="row">Total</th><td class="num">{sec.base:,}'
                         '</td><td></td><td></td></tr></tfoot>')
        parts += ["</table>", "</section>"]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


# -- CSV and JSON ------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """A CSV cell a spreadsheet will not evaluate: text that starts like a formula gets a
    leading apostrophe (OWASP's advice for CSV injection); numbers pass untouched."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _render_csv(snapshot: StatsSnapshot) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("section", "label", "count", "percent"))
    for sec in sections(snapshot):
        for r in sec.rows:
            writer.writerow((sec.id, _cell(r.key), r.count, f"{r.percent:.2f}"))
    return buf.getvalue()


def _json_rows(rows: Sequence[Row], *, names: bool = False) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        item: dict[str, Any] = {"label": r.key}
        if names:
            item["name"] = r.label
        item["count"] = r.count
        item["percent"] = r.percent
        out.append(item)
    return out


def report_dict(info: SurveyInfo, snapshot: StatsSnapshot) -> dict[str, Any]:
    """The JSON report as a dict with fixed keys in a fixed order."""
    s = snapshot
    by = {sec.id: sec for sec in sections(s)}
    return {
        "survey": {
            "id": info.id, "state": info.state, "source": describe_source(info.params),
            "params": info.params, "created": info.created, "updated": info.updated,
            "finished": info.finished, "watermark": info.watermark, "total": info.total,
            "stored": info.stored,
        },
        "summary": {
            "scanned": s.scanned, "did_not_respond": s.no_answer, "available": s.available,
            "did_not_respond_percent": _pct(s.no_answer, s.scanned),
            "available_percent": _pct(s.available, s.scanned),
            "rejected": s.rejected, "skipped": s.skipped, "total": s.total,
            "elapsed_s": s.elapsed_s, "open_relays": s.open_relays,
            "relay_tested": s.relay_tested, "blacklisted": s.blacklisted,
            "dnsbl_tested": s.dnsbl_tested,
        },
        "by_outcome": _json_rows(by["outcome"].rows),
        "by_country": _json_rows(by["country"].rows, names=True),
        "by_mta": _json_rows(by["mta"].rows),
        "open_relays_by_mta": _json_rows(by["open_relay"].rows),
        "blacklisted_by_mta": _json_rows(by["blacklisted"].rows),
    }


def render(info: SurveyInfo, snapshot: StatsSnapshot, fmt: Format) -> str:
    """The statistics report of one survey in ``fmt`` (md, html, csv or json)."""
    if fmt == "md":
        return _render_md(info, snapshot)
    if fmt == "html":
        return _render_html(info, snapshot)
    if fmt == "csv":
        return _render_csv(snapshot)
    if fmt == "json":
        return json.dumps(report_dict(info, snapshot), indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")


# -- raw records ------------------------------------------------------------------------------------


def _record_dict(r: SurveyRecord) -> dict[str, Any]:
    out = {name: getattr(r, name) for name in RECORD_FIELDS}
    out["outcome"] = str(r.outcome)
    return out


def export_records(store: SurveyStore, survey_id: int, fmt: Literal["csv", "json"],
                   out: TextIO) -> int:
    """Write every record of the survey to ``out`` as it is read from the store (seq
    order; nothing accumulates). CSV: a header of SurveyRecord's field names, empty cells
    for None; JSON: one array of objects with those keys. Returns the number of records."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use csv or json")
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(RECORD_FIELDS)
        for r in store.records(survey_id):
            writer.writerow([_cell(v) for v in _record_dict(r).values()])
            count += 1
        return count
    out.write("[")
    for r in store.records(survey_id):
        out.write(",\n" if count else "\n")
        out.write(json.dumps(_record_dict(r), ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count
