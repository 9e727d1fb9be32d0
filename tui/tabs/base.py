"""What every tool tab shares: the target field, the verdict banner, one exclusive worker,
cancel, and export. A tab subclass supplies ``compose_body``, ``check`` and ``show``.

Tabs are thin: read input, start a worker that awaits a probe, render the result. The
probe's progress callbacks run on the app's event loop (async workers), so they may touch
widgets directly.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.worker import Worker, WorkerState

from tui.config import Settings
from tui.probes.base import to_jsonable
from tui.probes.target import Target, TargetError, parse_target
from widgets.target_field import TargetField
from widgets.verdict import Level, VerdictBanner


def target_reason(text: str) -> str | None:
    try:
        parse_target(text)
    except TargetError as exc:
        return str(exc)
    return None


class ToolTab(Vertical):
    """Base class: subclasses set ``tool``/``title`` and implement the three hooks."""

    DEFAULT_CSS = """
    ToolTab { height: 1fr; }
    ToolTab > .tool-bar { height: auto; }
    ToolTab > .tool-bar > TargetField { width: 1fr; }
    ToolTab > .tool-body { height: 1fr; }
    """

    tool: ClassVar[str] = ""
    title: ClassVar[str] = ""
    palette_verb: ClassVar[str] = ""
    placeholder: ClassVar[str] = "host name, domain or IP address — Enter runs"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(id=f"tab-{self.tool}", **kwargs)
        self.result: Any = None
        self.last_target: Target | None = None
        self.worker: Worker[Any] | None = None

    # -- hooks for subclasses -------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        yield from ()

    def validate(self, text: str) -> str | None:
        """The reason ``text`` cannot be checked here, or None."""
        return target_reason(text)

    async def check(self, target: Target, settings: Settings) -> Any:
        raise TypeError(f"{type(self).__name__} must override check()")

    def reset(self) -> None:
        """Clear the previous result's widgets before a new run."""

    def show(self, result: Any) -> None:
        """Render a finished result (tables, verdict)."""

    def csv_rows(self, result: Any) -> tuple[Sequence[str], Iterable[Sequence[object]]]:
        """Header and rows for CSV export; default: the result's top-level scalars."""
        data = to_jsonable(result)
        scalars = {k: v for k, v in data.items() if not isinstance(v, dict | list)}
        return ("field", "value"), list(scalars.items())

    # -- machinery ------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self.app.settings  # type: ignore[attr-defined,no-any-return]

    @property
    def field(self) -> TargetField:
        return self.query_one(TargetField)

    @property
    def banner(self) -> VerdictBanner:
        return self.query_one(VerdictBanner)

    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.state in (
            WorkerState.PENDING, WorkerState.RUNNING)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="tool-bar"):
            yield TargetField(self.validate, placeholder=self.placeholder)
        yield VerdictBanner(f"{self.title}: type a target and press Enter", "idle")
        with VerticalScroll(classes="tool-body"):
            yield from self.compose_body()

    def focus_input(self) -> None:
        self.field.input.focus()

    def focus_body(self) -> None:
        """Leave the input so single-key bindings (1–9, r, e, ?) apply."""
        self.query_one(".tool-body").focus()

    def offer(self, text: str) -> None:
        """Put the shared target in the field (unless a check runs) and focus it."""
        if text and not self.running and self.field.value != text:
            self.field.value = text
        self.focus_input()

    def verdict(self, level: Level, text: str) -> None:
        self.banner.show(level, text)

    @on(TargetField.Submitted)
    def _on_submit(self, event: TargetField.Submitted) -> None:
        event.stop()
        self.start(event.value)

    def start(self, text: str | None = None) -> bool:
        """Validate and run; returns False (reason shown under the field) for bad input."""
        field = self.field
        if text is not None:
            field.value = text
        if not field.check():
            return False
        target = parse_target(field.value)
        self.app.shared_target = field.value.strip()  # type: ignore[attr-defined]
        self.last_target = target
        self.result = None
        self.reset()
        self.verdict("running", f"{self.title}: checking {target} …")
        self.worker = self.run_worker(
            self._work(target), group=self.tool, exclusive=True, exit_on_error=False,
            name=f"{self.tool}:{target}",
        )
        self.focus_body()
        return True

    async def _work(self, target: Target) -> Any:
        result = await self.check(target, self.settings)
        self.result = result
        self.show(result)
        return result

    def cancel(self) -> bool:
        if not self.running:
            return False
        self.workers.cancel_group(self, self.tool)
        return True

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self.worker:
            return
        if event.state is WorkerState.CANCELLED:
            self.verdict("warn", f"{self.title}: cancelled")
        elif event.state is WorkerState.ERROR:
            error = event.worker.error
            self.verdict("fail", f"{self.title} failed: {type(error).__name__}: {error}")

    def export(self, directory: Path) -> list[Path]:
        """Write the current result as JSON and CSV; returns the paths written."""
        if self.result is None:
            return []
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        name = str(self.last_target or "result").replace(":", "_")
        # Not with_suffix: the target's dots would make ".com-<stamp>" the suffix it replaces.
        base = f"mxscope-{self.tool}-{name}-{stamp}"
        json_path = directory / f"{base}.json"
        json_path.write_text(
            json.dumps(to_jsonable(self.result), indent=2, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        header, rows = self.csv_rows(self.result)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
        csv_path = directory / f"{base}.csv"
        csv_path.write_text(buffer.getvalue(), encoding="utf-8")
        return [json_path, csv_path]
