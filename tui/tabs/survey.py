"""Survey tab: a live scan of many mail servers.

The engine (tui/survey) runs in an async worker on the app's loop and writes plain counters;
this tab samples ``stats.snapshot()`` on a 0.25 s timer and updates the summary and the four
distribution panels in one batch — it never receives one message per target, so keys stay
responsive at full scan speed. The timer skips work while the tab is hidden.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.widgets import Checkbox, DataTable, Input, Label, ProgressBar, Static

from tui.config import Settings
from tui.probes.target import Target
from tui.survey.engine import Survey, SurveyOptions
from tui.survey.stats import StatsSnapshot, SurveyStats
from tui.survey.store import StoreError, SurveyStore, default_store_path
from tui.survey.targets import SourceSpec, count_hint, parse_source, validate_spec
from tui.tabs.base import ToolTab
from widgets.distribution import DistributionPanel
from widgets.verdict import VerdictBanner

SAMPLE_INTERVAL = 0.25


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}"


class SurveyForm(Vertical):
    """Parameters with validation; ``options()`` raises ValueError naming the bad field."""

    DEFAULT_CSS = """
    SurveyForm { height: auto; }
    SurveyForm Horizontal { height: auto; }
    SurveyForm Input { width: 1fr; }
    SurveyForm #survey-source { width: 3fr; }
    SurveyForm Label { padding: 1 1 0 1; }
    SurveyForm .form-error { color: $text-error; padding: 0 1; height: auto; }
    """

    def __init__(self, settings: Settings, default_source: str = "",
                 default_port: int | None = None, lab: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._settings = settings
        self._default_source = default_source
        self._default_port = default_port or settings.smtp_port
        self._lab = lab

    def compose(self) -> ComposeResult:
        s = self._settings
        with Horizontal():
            yield Label("targets")
            yield Input(self._default_source, id="survey-source",
                        placeholder="file | CIDR[,CIDR] | random:N[:SEED] | - (stdin)")
            yield Label("port")
            yield Input(str(self._default_port), id="survey-port", type="integer",
                        max_length=5)
        with Horizontal():
            yield Label("concurrency")
            yield Input(str(s.survey_concurrency), id="survey-concurrency", type="integer")
            yield Label("rate/s")
            yield Input(str(s.survey_rate), id="survey-rate", type="number")
            yield Label("timeout s")
            yield Input(str(s.survey_timeout), id="survey-timeout", type="number")
            yield Label("relay/s")
            yield Input(str(SurveyOptions.relay_rate), id="survey-relay-rate", type="number")
            yield Label("DNSBL/s")
            yield Input(str(SurveyOptions.dnsbl_rate), id="survey-dnsbl-rate", type="number")
        with Horizontal():
            yield Checkbox("EHLO + HELP (names qmail)", True, id="survey-help")
            yield Checkbox("relay test", id="survey-relay")
            yield Checkbox("DNSBL", id="survey-dnsbl")
            yield Checkbox("lab: allow 127.0.0.0/8", self._lab, id="survey-loopback")
        yield Label("", classes="form-error", markup=False)  # quotes what was typed

    def show_error(self, text: str) -> None:
        self.query_one(".form-error", Label).update(text)

    def _number(self, widget_id: str, name: str, cast: type, low: float, high: float) -> Any:
        raw = self.query_one(f"#{widget_id}", Input).value.strip()
        try:
            value = cast(raw)
        except ValueError:
            raise ValueError(f"{name}: {raw!r} is not a number") from None
        if not low <= value <= high:
            raise ValueError(f"{name}: must be between {low:g} and {high:g}")
        return value

    def spec(self) -> SourceSpec:
        text = self.query_one("#survey-source", Input).value.strip()
        if not text:
            raise ValueError("targets: give a file, CIDR range(s) or random:N")
        if text == "-":
            raise ValueError("targets: stdin is for the headless `mxscope survey -`")
        loopback = self.query_one("#survey-loopback", Checkbox).value
        spec = parse_source(text, allow_loopback=loopback)
        validate_spec(spec)
        return spec

    def options(self) -> SurveyOptions:
        timeout = self._number("survey-timeout", "timeout", float, 0.1, 600)
        return SurveyOptions(
            port=self._number("survey-port", "port", int, 1, 65535),
            concurrency=self._number("survey-concurrency", "concurrency", int, 1, 5000),
            rate=self._number("survey-rate", "rate", float, 0, 1_000_000),
            connect_timeout=min(timeout, self._settings.connect_timeout),
            greeting_timeout=timeout,
            ehlo=self.query_one("#survey-help", Checkbox).value,
            help=self.query_one("#survey-help", Checkbox).value,
            relay=self.query_one("#survey-relay", Checkbox).value,
            dnsbl=self.query_one("#survey-dnsbl", Checkbox).value,
            relay_rate=self._number("survey-relay-rate", "relay/s", float, 0, 10_000),
            dnsbl_rate=self._number("survey-dnsbl-rate", "DNSBL/s", float, 0, 10_000),
        )


class SurveyTab(ToolTab):
    tool = "survey"
    title = "Survey"
    palette_verb = "Survey"

    # Priority, so they work while the form's inputs have focus (Input binds ctrl+x to cut).
    BINDINGS = [
        Binding("ctrl+s", "start", "Start", id="survey.start", priority=True),
        Binding("f10", "pause", "Pause/resume", id="survey.pause", priority=True),
        Binding("ctrl+x", "stop", "Stop", id="survey.stop", priority=True),
        Binding("ctrl+l", "past", "Past surveys", id="survey.past", priority=True),
    ]

    DEFAULT_CSS = """
    SurveyTab #survey-summary { height: 1; padding: 0 1; }
    SurveyTab #survey-panels { grid-size: 2 2; grid-gutter: 0 1; grid-rows: 17; height: 34; }
    SurveyTab #survey-past { height: auto; max-height: 10; display: none; }
    SurveyTab.-show-past #survey-past { display: block; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.survey: Survey | None = None
        self.store: SurveyStore | None = None
        self.survey_id: int | None = None
        self.last_snapshot: StatsSnapshot | None = None
        self.samples = 0
        # Seconds each tick fired late (bench/survey.py reads it); bounded, the app may run for days.
        self.sample_lateness: deque[float] = deque(maxlen=10_000)
        self._next_due = 0.0

    # The survey tab has its own form instead of the shared target field.
    def compose(self) -> ComposeResult:
        app: Any = self.app
        yield SurveyForm(app.settings, app.survey_default_source, app.survey_default_port,
                         app.survey_lab, id="survey-form")
        yield VerdictBanner("Survey: not started — fill in the targets and press Ctrl+S", "idle")
        with VerticalScroll(classes="tool-body"):
            yield Static("", id="survey-summary")
            yield ProgressBar(id="survey-progress", show_eta=False)
            with Grid(id="survey-panels"):
                yield DistributionPanel("Distribution by country", id="panel-country")
                yield DistributionPanel("Distribution by MTA", id="panel-mta")
                yield DistributionPanel("Open relay servers per MTA", id="panel-relay")
                yield DistributionPanel("Blacklisted servers per MTA", id="panel-dnsbl")
            yield DataTable(id="survey-past", cursor_type="row")

    def on_mount(self) -> None:
        self.set_interval(SAMPLE_INTERVAL, self.sample, name="survey-sampler")
        self._next_due = time.monotonic() + SAMPLE_INTERVAL
        past = self.query_one("#survey-past", DataTable)
        for name in ("id", "state", "created", "source", "scanned", "available"):
            past.add_column(name, key=name)

    # The survey has its own form: the shared single target does not apply here.
    def focus_input(self) -> None:
        self.query_one("#survey-source", Input).focus()

    def offer(self, text: str) -> None:
        self.focus_input()

    async def check(self, target: Target, settings: Settings) -> Any:
        raise TypeError("the survey tab starts surveys with Ctrl+S, not a single target")

    def start(self, text: str | None = None) -> bool:
        return self.action_start()

    def cancel(self) -> bool:
        return self.action_stop()

    # -- store ------------------------------------------------------------------------------

    def _store(self) -> SurveyStore:
        if self.store is None:
            path = getattr(self.app, "survey_db", None) or default_store_path()
            self.store = SurveyStore(path)
        return self.store

    # -- actions ------------------------------------------------------------------------------

    def action_start(self, resume_id: int | None = None) -> bool:
        if self.running:
            self.app.notify("A survey is already running; Ctrl+X stops it.", severity="warning")
            return False
        form = self.query_one(SurveyForm)
        settings: Settings = self.app.settings  # type: ignore[attr-defined]
        try:
            if resume_id is None:
                self.survey = Survey(form.spec(), settings, form.options(), self._store())
            else:
                self.survey = Survey.reopen(self._store(), resume_id, settings)
        # A bad field, source, exclusion file or relay address; or a store that cannot be
        # opened (an unhandled error here would end the app).
        except (ValueError, StoreError, OSError) as exc:
            form.show_error(str(exc))
            self.verdict("fail", f"Survey not started: {exc}")
            return False
        form.show_error("")
        spec, options = self.survey.spec, self.survey.options
        total = count_hint(spec, self.survey.exclusions)
        bar = self.query_one(ProgressBar)
        bar.update(total=total, progress=0)
        self.verdict("running", f"Survey {'resumed' if resume_id else 'started'}: "
                                f"{spec.kind} {spec.value or spec.count}, port {options.port}, "
                                f"concurrency {options.concurrency}")
        self.app.freeze_heap()  # type: ignore[attr-defined]  # the new survey's long-lived parts too
        self.worker = self.run_worker(self._run_survey(), group="survey", exclusive=True,
                                      exit_on_error=False, name="survey")
        return True

    async def _run_survey(self) -> StatsSnapshot:
        assert self.survey is not None
        snapshot = await self.survey.run()
        self.survey_id = self.survey.survey_id
        self.result = snapshot
        self.sample(force=True)
        state = self.survey.state
        level = "pass" if state == "finished" else "warn"
        self.verdict(level, f"Survey {self.survey_id} {state}: {snapshot.scanned:,} scanned, "
                            f"{snapshot.available:,} available"
                            + ("" if state == "finished"
                               else f" — resume with Ctrl+L or `mxscope survey --resume "
                                    f"{self.survey_id}`"))
        return snapshot

    def action_pause(self) -> None:
        if self.survey is None or self.survey.state not in ("running", "paused"):
            self.app.notify("No survey is running.", timeout=2)
            return
        if self.survey.state == "paused":
            self.survey.resume()
            self.verdict("running", "Survey resumed")
        else:
            self.survey.pause()
            self.verdict("warn", "Survey paused — F10 resumes")

    def action_stop(self) -> bool:
        if self.survey is None or not self.running:
            return False
        self.survey.stop()
        self.verdict("warn", "Survey stopping: finishing the targets in flight …")
        return True

    def action_past(self) -> None:
        self.toggle_class("-show-past")
        if not self.has_class("-show-past"):
            return
        try:
            surveys = self._store().list()
        except (StoreError, OSError) as exc:
            self.remove_class("-show-past")
            self.app.notify(f"Past surveys: {exc}", severity="error", markup=False)
            return
        table = self.query_one("#survey-past", DataTable)
        table.clear()
        for info in surveys:
            source = info.params.get("source", {})
            what = source.get("value") or f"{source.get('kind', '?')} {source.get('count', '')}"
            table.add_row(str(info.id), info.state, time.strftime(
                "%Y-%m-%d %H:%M", time.localtime(info.created)),
                Text(str(what)[:40]), f"{info.stored:,}", f"{info.available:,}",
                key=str(info.id))  # the source as text, never as markup
        table.focus()

    @on(DataTable.RowSelected, "#survey-past")
    def _reopen(self, event: DataTable.RowSelected) -> None:
        event.stop()
        survey_id = int(str(event.row_key.value))
        store = self._store()
        info = store.get(survey_id)
        snapshot = SurveyStats.from_aggregate(store.aggregate(survey_id),
                                              total=info.total).snapshot()
        self.survey_id = survey_id
        self.result = snapshot
        self.last_snapshot = None
        self._draw(snapshot)
        self.remove_class("-show-past")
        if info.state not in ("finished",):
            self.action_start(resume_id=survey_id)
        else:
            self.verdict("info", f"Survey {survey_id} (finished): {snapshot.scanned:,} "
                                 f"scanned, {snapshot.available:,} available")

    # -- sampling -----------------------------------------------------------------------------

    def sample(self, force: bool = False) -> None:
        now = time.monotonic()
        self.sample_lateness.append(max(0.0, now - self._next_due))
        self._next_due = now + SAMPLE_INTERVAL
        if self.survey is None or (not force and not self.is_on_screen):
            return
        snapshot = self.survey.stats.snapshot()
        if not force and snapshot == self.last_snapshot:
            return
        self.last_snapshot = snapshot
        self.samples += 1
        with self.app.batch_update():
            self._draw(snapshot)

    def _draw(self, s: StatsSnapshot) -> None:
        total = f" of {s.total:,}" if s.total else ""
        self.query_one("#survey-summary", Static).update(
            f"[b]scanned:[/b] {s.scanned:,}{total}  ·  [b]no answer:[/b] {s.no_answer:,}  ·  "
            f"[b]available:[/b] {s.available:,}  ·  [b]rate:[/b] {s.rate:,.0f}/s  ·  "
            f"[b]ETA:[/b] {_fmt_duration(s.eta_s)}  ·  [b]elapsed:[/b] "
            f"{_fmt_duration(s.elapsed_s)}  ·  [dim]skipped: {s.skipped:,}[/dim]",
            layout=False,  # a fixed one-line strip: sampling must not reflow the screen
        )
        bar = self.query_one(ProgressBar)
        if s.total:
            bar.update(total=s.total, progress=s.scanned)
        country = self.query_one("#panel-country", DistributionPanel)
        country.set_data(list(s.by_country), total=s.available)
        country.set_note(f"{s.available:,} available servers")
        mta = self.query_one("#panel-mta", DistributionPanel)
        mta.set_data(list(s.by_mta), total=s.available)
        mta.set_note(f"{s.available:,} available servers")
        relays = self.query_one("#panel-relay", DistributionPanel)
        relays.set_data(list(s.open_relays_by_mta), total=s.open_relays)
        relays.set_note(f"{s.open_relays:,} open relays of {s.relay_tested:,} tested"
                        if s.relay_tested else "relay test off")
        listed = self.query_one("#panel-dnsbl", DistributionPanel)
        listed.set_data(list(s.blacklisted_by_mta), total=s.blacklisted)
        listed.set_note(f"{s.blacklisted:,} blacklisted of {s.dnsbl_tested:,} checked"
                        if s.dnsbl_tested else "DNSBL check off")

    def export(self, directory: Any) -> list[Any]:
        if self.result is None or self.survey_id is None:
            return []
        from tui.survey import report

        directory.mkdir(parents=True, exist_ok=True)
        store = self._store()
        info = store.get(self.survey_id)
        base = directory / f"mxscope-survey-{self.survey_id}"
        paths = []
        for fmt in ("json", "csv"):
            path = base.with_suffix(f".{fmt}")
            path.write_text(report.render(info, self.result, fmt), encoding="utf-8")
            paths.append(path)
        return paths

