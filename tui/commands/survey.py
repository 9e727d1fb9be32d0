"""`mxscope survey`: scan many mail servers headless, resumable, with the classic statistics.

    mxscope survey SOURCE [--port N] [--concurrency C] [--rate R] [--timeout T]
                          [--ehlo] [--help-command] [--relay] [--dnsbl] [--db FILE]
                          [--exclude FILE] [--allow-loopback] [--universe CIDR] [--json]
    mxscope survey --resume ID [--db FILE] [--json]
    mxscope survey list [--db FILE] [--json]
    mxscope survey report ID --format md|html|csv|json [--db FILE] [-o FILE]
    mxscope survey export ID --format csv|json [--db FILE] [-o FILE]

SOURCE is a file (IPs, CIDRs, host names or domains → their MX hosts), a CIDR or comma
list of CIDRs, ``-`` for stdin (``zmap -p 25 … | mxscope survey -``) or ``random:N[:SEED]``.
Reserved ranges and the exclusion file are always skipped (127.0.0.0/8 only with
--allow-loopback, for the lab). A progress line goes to stderr (at most 4 a second; one
line a second when stderr is not a terminal), the final statistics to stdout. Ctrl-C (or
SIGTERM) stops: targets in flight finish, the store is flushed and marked "stopped", and
the command prints how to resume; a second Ctrl-C abandons the targets in flight (they
are rescanned on resume). The event loop is uvloop when installed.

Exit status: 0 the survey finished; 1 it was stopped or failed (resumable); 2 bad input,
nothing sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from tui.cli import (
    EXIT_FAILED,
    EXIT_OK,
    build_settings,
    fail_usage,
    json_option,
    settings_options,
)
from tui.probes.base import to_jsonable
from tui.survey.stats import StatsSnapshot, SurveyStats

T = TypeVar("T")
SUBCOMMANDS = ("scan", "list", "report", "export")
TOP = 10  # rows per distribution in the text summary; report/--json have them all


def run_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run the headless survey on uvloop when it is installed (never inside the TUI)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - optional
        return asyncio.run(coro)
    return uvloop.run(coro)


# -- text output --------------------------------------------------------------------------


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


def progress_line(survey_id: int | None, snap: StatsSnapshot, state: str) -> str:
    total = f"/{snap.total:,}" if snap.total is not None else ""
    pct = f" ({snap.progress * 100:.1f}%)" if snap.progress is not None else ""
    head = f"survey {survey_id}" if survey_id is not None else "survey"
    extra = f" [{state}]" if state not in ("running", "finished") else ""
    return (f"{head}{extra}: {snap.scanned:,}{total} scanned{pct} · "
            f"{snap.available:,} available · {snap.no_answer:,} no answer · "
            f"{snap.rate:,.0f}/s · ETA {_duration(snap.eta_s)} · "
            f"elapsed {_duration(snap.elapsed_s)}")


def _table(title: str, rows: tuple[tuple[str, int], ...], of: int, snap: StatsSnapshot
           ) -> list[str]:
    lines = [f"{title}:"]
    if not rows:
        return [*lines, "  (none)"]
    for name, count in rows[:TOP]:
        lines.append(f"  {name:<20} {count:>10,}  {snap.pct(count, of):6.2f} %")
    if len(rows) > TOP:
        rest = sum(c for _, c in rows[TOP:])
        lines.append(f"  {'… ' + str(len(rows) - TOP) + ' more':<20} {rest:>10,}  "
                     f"{snap.pct(rest, of):6.2f} %")
    return lines


def render_summary(snap: StatsSnapshot) -> str:
    lines = [
        f"total scanned     {snap.scanned:>12,}",
        f"did not respond   {snap.no_answer:>12,}  {snap.pct(snap.no_answer, snap.scanned):6.2f} %"
        f"  (refused {snap.by_outcome.get('refused', 0):,}, timeout "
        f"{snap.by_outcome.get('timeout', 0):,}, reset {snap.by_outcome.get('reset', 0):,}, "
        f"error {snap.by_outcome.get('error', 0):,}, 4xx/5xx greeting {snap.rejected:,})",
        f"available         {snap.available:>12,}  {snap.pct(snap.available, snap.scanned):6.2f} %",
    ]
    if snap.skipped:
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(snap.skipped_by_reason.items()))
        lines.append(f"skipped           {snap.skipped:>12,}  ({reasons})")
    lines.append(f"elapsed {_duration(snap.elapsed_s)}, {snap.rate:,.0f} targets/s at the end")
    lines.append("")
    lines += _table("mail servers by country", snap.by_country, snap.available, snap)
    lines += _table("mail servers by MTA", snap.by_mta, snap.available, snap)
    if snap.relay_tested:
        lines += _table(f"open relays per MTA ({snap.open_relays:,} of {snap.relay_tested:,} "
                        "tested)", snap.open_relays_by_mta, snap.open_relays, snap)
    if snap.dnsbl_tested:
        lines += _table(f"blacklisted per MTA ({snap.blacklisted:,} of {snap.dnsbl_tested:,} "
                        "checked)", snap.blacklisted_by_mta, snap.blacklisted, snap)
    return "\n".join(lines)


class Progress:
    """The stderr progress line: \\r-updated on a terminal (≤ 4/s), else a line a second."""

    def __init__(self, stream: TextIO, survey: Any) -> None:
        self.stream = stream
        self.survey = survey
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.every = 0.25 if self.tty else 1.0
        self._last = 0.0
        self._width = 0

    def __call__(self, snap: StatsSnapshot) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        line = progress_line(self.survey.survey_id, snap, self.survey.state)
        if self.tty:
            pad = max(0, self._width - len(line))
            self.stream.write("\r" + line + " " * pad)
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self, snap: StatsSnapshot) -> None:
        line = progress_line(self.survey.survey_id, snap, self.survey.state)
        self.stream.write(("\r" + line + " " * max(0, self._width - len(line)) + "\n")
                          if self.tty else line + "\n")
        self.stream.flush()


# -- the group: `survey SOURCE` is the default `scan` ---------------------------------------


class _SurveyGroup(click.Group):
    """`mxscope survey SOURCE …` runs `scan`; `list`, `report`, `export` are subcommands."""

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] in self.commands:
            return super().resolve_command(ctx, args)
        return "scan", self.commands["scan"], args


@click.group("survey", cls=_SurveyGroup, invoke_without_command=False, no_args_is_help=True,
             context_settings={"ignore_unknown_options": True,
                               "allow_interspersed_args": False})
def command() -> None:
    """Survey many mail servers: `mxscope survey SOURCE [options]` (see `survey scan
    --help`), `--resume ID`, and the list / report / export subcommands."""


def fd_budget(concurrency: int, probes: bool) -> str | None:
    """Make room for ``concurrency`` sockets (two per target with relay/DNSBL) under the
    open-files limit, raising the soft limit up to the hard one when needed; a message
    when even that is not enough (EMFILE mid-scan would turn targets into errors)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on this platform
        return None
    need = concurrency * (2 if probes else 1) + 128  # listeners, the store, DNS, stdio …
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if need <= soft:
        return None
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    except (ValueError, OSError):
        pass
    if need <= soft:
        return None
    return (f"concurrency {concurrency} needs about {need} open files, but the limit is "
            f"{soft} (ulimit -n); lower --concurrency")


def _open_store(db: str | None) -> Any:
    from tui.survey.store import StoreError, SurveyStore

    try:
        return SurveyStore(db) if db else SurveyStore()
    except StoreError as exc:
        fail_usage(str(exc))


def _db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--db", type=click.Path(dir_okay=False), default=None,
                        help="Survey store (SQLite; default: the platform data dir's "
                             "mxscope/surveys.sqlite).")(func)


@command.command("scan")
@click.argument("source", required=False)
@click.option("--resume", "resume_id", type=click.IntRange(min=1), default=None, metavar="ID",
              help="Continue survey ID where it stopped (same source: pipe stdin again).")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="TCP port (default: smtp_port, 25).")
@click.option("--concurrency", type=click.IntRange(1, 50_000), default=None,
              help="Targets in flight at once (default: survey_concurrency, 500).")
@click.option("--rate", type=click.FloatRange(min=0), default=None,
              help="At most this many new targets per second (0 = unlimited).")
@click.option("--ehlo", is_flag=True, help="Send EHLO after the greeting (fingerprints better).")
@click.option("--help-command", "help_cmd", is_flag=True,
              help="Send HELP after the greeting (tells qmail apart).")
@click.option("--relay", is_flag=True, help="Open-relay test of every available server "
              "(RSET/MAIL/RCPT only, never DATA; rate-limited).")
@click.option("--relay-rate", type=click.FloatRange(min=0), default=None,
              help="Relay tests per second (default 1).")
@click.option("--dnsbl", is_flag=True, help="DNSBL check of every available server "
              "(rate-limited).")
@click.option("--dnsbl-rate", type=click.FloatRange(min=0), default=None,
              help="DNSBL checks per second (default 10).")
@_db_option
@click.option("--exclude", type=click.Path(dir_okay=False), default=None,
              help="Never scan these (one IP or CIDR per line, # comments).")
@click.option("--allow-loopback", is_flag=True,
              help="Permit 127.0.0.0/8 and ::1 (the loopback lab); other reserved ranges "
                   "stay skipped.")
@click.option("--universe", default=None, metavar="CIDR[,CIDR…]",
              help="random:N draws from these networks instead of all IPv4.")
@click.option("--quiet", "-q", is_flag=True, help="No progress line on stderr.")
@settings_options
@json_option
def scan(source: str | None, resume_id: int | None, port: int | None,
         concurrency: int | None, rate: float | None, ehlo: bool, help_cmd: bool, relay: bool,
         relay_rate: float | None, dnsbl: bool, dnsbl_rate: float | None, db: str | None,
         exclude: str | None, allow_loopback: bool, universe: str | None, quiet: bool,
         config_file: str | None, nameservers: tuple[str, ...], timeout: float | None,
         as_json: bool) -> None:
    """Scan SOURCE: a file, a CIDR (list), '-' for stdin or random:N[:SEED].

    --timeout sets both the connect and the greeting wait ("no 220 within the period we
    wait" counts as did not respond).
    """
    from tui.probes.address import AddressError
    from tui.probes.target import TargetError
    from tui.survey.engine import Survey, SurveyOptions
    from tui.survey.targets import ExclusionError, SourceError, parse_source

    if (source is None) == (resume_id is None):
        fail_usage("give a SOURCE to scan, or --resume ID (not both)")
    settings = build_settings(
        config_file, nameservers, timeout,
        survey_concurrency=concurrency, survey_rate=rate, survey_timeout=timeout,
        survey_exclude_file=exclude, smtp_port=port,
    )
    store = _open_store(db)
    try:
        if resume_id is not None:
            survey = _reopen(store, resume_id, settings, as_json)
        else:
            assert source is not None
            spec = parse_source(source, allow_loopback=allow_loopback, universe=universe)
            options = SurveyOptions.from_settings(
                settings, ehlo=ehlo, help=help_cmd, relay=relay, dnsbl=dnsbl,
                relay_rate=relay_rate, dnsbl_rate=dnsbl_rate)
            survey = Survey(spec, settings, options, store, stdin=sys.stdin)
    except (SourceError, ExclusionError, AddressError, TargetError, ValueError) as exc:
        store.close()
        fail_usage(str(exc))
    problem = fd_budget(survey.options.concurrency, survey.options.relay or survey.options.dnsbl)
    if problem:
        store.close()
        fail_usage(problem)
    err = click.get_text_stream("stderr")
    progress = None if quiet else Progress(err, survey)
    survey.observer = progress
    interrupted = {"count": 0}

    async def main() -> StatsSnapshot:
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            interrupted["count"] += 1
            if interrupted["count"] == 1:
                err.write("\nmxscope: stopping: finishing the targets in flight "
                          "(Ctrl-C again to abandon them)\n")
                survey.stop()
            else:
                survey.stop(force=True)

        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, on_signal)
                installed.append(sig)
        try:
            return await survey.run()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    try:
        snap = run_loop(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        snap = survey.stats.snapshot()
    except Exception as exc:  # noqa: BLE001 - the source broke mid-way: say so, keep the data
        snap = survey.stats.snapshot()
        survey.failure = survey.failure or f"{type(exc).__name__}: {exc}"
        if survey.state not in ("failed", "stopped"):
            survey.state = "failed"
    finally:
        store.close()
    if progress is not None:
        progress.done(snap)
    _report_end(survey, snap, db, as_json)


def _reopen(store: Any, survey_id: int, settings: Any, as_json: bool) -> Any:
    from tui.survey.engine import Survey
    from tui.survey.store import StoreError

    try:
        info = store.get(survey_id)
    except StoreError as exc:
        store.close()
        fail_usage(str(exc))
    if info.state == "running":
        store.close()
        fail_usage(f"survey {survey_id} is running in another process")
    if info.state == "finished":
        snap = SurveyStats.from_aggregate(store.aggregate(survey_id), total=info.total).snapshot()
        store.close()
        click.echo(f"mxscope: survey {survey_id} is already finished", err=True)
        _emit_final(survey_id, "finished", snap, None, 0, "", as_json)
        sys.exit(EXIT_OK)
    return Survey.reopen(store, survey_id, settings, stdin=sys.stdin)


def _resume_hint(survey_id: int | None, db: str | None) -> str:
    where = f" --db {db}" if db else ""
    return f"mxscope survey --resume {survey_id}{where}"


def _emit_final(survey_id: int | None, state: str, snap: StatsSnapshot, resume: str | None,
                errors: int, failure: str, as_json: bool) -> None:
    if as_json:
        doc = {"survey_id": survey_id, "state": state, "resume": resume, "errors": errors,
               "failure": failure or None, "stats": to_jsonable(snap)}
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    click.echo(f"survey {survey_id}: {state}")
    click.echo(render_summary(snap))


def _report_end(survey: Any, snap: StatsSnapshot, db: str | None, as_json: bool) -> None:
    state = survey.state
    resume = None
    if state in ("stopped", "failed", "stopping") and survey.survey_id is not None:
        resume = _resume_hint(survey.survey_id, db)
        state = "failed" if state == "failed" else "stopped"
    if survey.failure:
        click.echo(f"mxscope: survey failed: {survey.failure}", err=True)
    if resume:
        click.echo(f"mxscope: resume with: {resume}", err=True)
    _emit_final(survey.survey_id, state, snap, resume, survey.errors, survey.failure, as_json)
    sys.exit(EXIT_OK if state == "finished" else EXIT_FAILED)


# -- list / report / export ---------------------------------------------------------------------


def _source_text(params: dict[str, Any]) -> str:
    src = params.get("source", {})
    kind = src.get("kind", "?")
    if kind == "random":
        return f"random:{src.get('count')}:{src.get('seed')}" + (
            f" in {src['universe']}" if src.get("universe") else "")
    if kind == "stdin":
        return "-"
    return str(src.get("value", ""))


@command.command("list")
@_db_option
@json_option
def list_surveys(db: str | None, as_json: bool) -> None:
    """List the surveys in the store, newest first."""
    store = _open_store(db)
    try:
        infos = store.list()
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(to_jsonable(infos), indent=2, ensure_ascii=False))
        return
    if not infos:
        click.echo("no surveys yet")
        return
    click.echo(f"{'id':>5}  {'state':<9} {'created':<19} {'scanned':>12} {'available':>10}  "
               "source")
    for info in infos:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.created))
        total = f"/{info.total:,}" if info.total is not None else ""
        scanned = f"{info.stored:,}{total}"
        click.echo(f"{info.id:>5}  {info.state:<9} {created:<19} {scanned:>12} "
                   f"{info.available:>10,}  {_source_text(info.params)}")


def _info_or_exit(store: Any, survey_id: int) -> Any:
    from tui.survey.store import StoreError

    try:
        return store.get(survey_id)
    except StoreError as exc:
        store.close()
        fail_usage(str(exc))


def _write(text: str, output: str | None) -> None:
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        fail_usage(f"{output}: {exc.strerror or exc}")


def snapshot_of(store: Any, info: Any) -> StatsSnapshot:
    """The statistics of a stored survey, from the store's SQL aggregate."""
    aggregate = store.aggregate(info.id)
    first, last = aggregate.get("first_scanned_at"), aggregate.get("last_scanned_at")
    elapsed = float(last) - float(first) if first is not None and last is not None else 0.0
    stats = SurveyStats.from_aggregate(aggregate, total=info.total, elapsed_before=elapsed,
                                       clock=lambda: 0.0)
    return stats.snapshot()


@command.command("report")
@click.argument("survey_id", type=click.IntRange(min=1), metavar="ID")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "csv", "json"]),
              default="md", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write to this file instead of stdout.")
@_db_option
def report(survey_id: int, fmt: str, output: str | None, db: str | None) -> None:
    """The statistics of survey ID: summary and the four distributions."""
    from tui.survey import report as report_module

    store = _open_store(db)
    try:
        info = _info_or_exit(store, survey_id)
        text = report_module.render(info, snapshot_of(store, info), fmt)
    finally:
        store.close()
    _write(text, output)


@command.command("export")
@click.argument("survey_id", type=click.IntRange(min=1), metavar="ID")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write to this file instead of stdout.")
@_db_option
def export(survey_id: int, fmt: str, output: str | None, db: str | None) -> None:
    """Every record of survey ID, streamed as CSV or JSON."""
    from tui.survey import report as report_module

    store = _open_store(db)
    try:
        _info_or_exit(store, survey_id)
        if output is None:
            report_module.export_records(store, survey_id, fmt, click.get_text_stream("stdout"))
        else:
            try:
                with open(output, "w", encoding="utf-8", newline="") as out:
                    report_module.export_records(store, survey_id, fmt, out)
            except OSError as exc:
                fail_usage(f"{output}: {exc.strerror or exc}")
    finally:
        store.close()

