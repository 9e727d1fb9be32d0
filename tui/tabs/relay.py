"""Relay tab: every relay variant as it is tried (RSET → MAIL → RCPT, never DATA) and the
verdict; the dialogue transcript below."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from textual.app import ComposeResult
from textual.widgets import Log, ProgressBar

from tui.config import Settings
from tui.probes import relay
from tui.probes.diagnose import SUMMARIES
from tui.probes.target import Target
from tui.tabs.base import ToolTab
from widgets.status_table import StatusTable

_LEVEL = {
    "accepted": "fail", "rejected": "pass", "deferred": "warn", "auth-required": "pass",
    "relay-denied-temporary": "pass", "error": "warn", "timeout": "warn", "not-tried": "idle",
}
EXPECTED_VARIANTS = 18  # the probe's plan on IPv4 with a host name; the bar grows if more


class RelayTab(ToolTab):
    tool = "relay"
    title = "Relay"
    palette_verb = "Relay test"

    def compose_body(self) -> ComposeResult:
        yield ProgressBar(show_eta=False, id="relay-progress")
        yield StatusTable(["variant", "MAIL FROM", "RCPT TO", "outcome", "reply"],
                          level_column=3, id="relay-table")
        yield Log(id="relay-transcript", max_lines=500, auto_scroll=False)

    def reset(self) -> None:
        self.query_one(StatusTable).clear_rows()
        self.query_one(Log).clear()
        self.query_one(ProgressBar).update(total=EXPECTED_VARIANTS, progress=0)
        self._done = 0

    def _on_variant(self, item: relay.VariantResult) -> None:
        self._done += 1
        bar = self.query_one(ProgressBar)
        if bar.total is not None and self._done > bar.total:
            bar.update(total=self._done)
        bar.update(progress=self._done)
        self._row(item)
        self.verdict("running", f"Relay test: {self._done} variants done …")

    def _row(self, item: relay.VariantResult) -> None:
        self.query_one(StatusTable).set_row(item.id, [
            item.description, item.mail_from, item.rcpt_to, item.outcome,
            item.reply.replace("\n", " ")[:90],
        ], _LEVEL.get(item.outcome, "warn"))

    async def check(self, target: Target, settings: Settings) -> relay.RelayResult:
        return await relay.run(target, settings, on_variant=self._on_variant)

    def show(self, result: relay.RelayResult) -> None:
        for item in result.variants:
            self._row(item)
        done = max(1, len(result.variants))
        self.query_one(ProgressBar).update(total=done, progress=done)
        log = self.query_one(Log)
        log.write_lines(f"{d} {line}" for d, line in result.transcript)
        self.verdict(*SUMMARIES["relay"](result))

    def csv_rows(self, result: Any) -> tuple[Sequence[str], Iterable[Sequence[object]]]:
        return ("id", "kind", "description", "mail_from", "rcpt_to", "outcome", "stage", "code",
                "reply"), [
            (v.id, v.kind, v.description, v.mail_from, v.rcpt_to, v.outcome, v.stage, v.code,
             v.reply) for v in result.variants
        ]
