"""DNSBL tab: every list's state as it answers, with code meaning, TXT reason and delisting."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from textual.app import ComposeResult
from textual.widgets import ProgressBar

from tui.config import Settings
from tui.probes import dnsbl
from tui.probes.diagnose import SUMMARIES
from tui.probes.target import Target
from tui.tabs.base import ToolTab
from widgets.status_table import StatusTable

_LEVEL = {
    dnsbl.ListStatus.LISTED: "fail", dnsbl.ListStatus.CLEAN: "pass",
    dnsbl.ListStatus.ERROR: "warn", dnsbl.ListStatus.TIMEOUT: "warn",
    dnsbl.ListStatus.SKIPPED: "idle",
}


class DnsblTab(ToolTab):
    tool = "dnsbl"
    title = "DNSBL"
    palette_verb = "DNSBL check"

    def compose_body(self) -> ComposeResult:
        yield ProgressBar(show_eta=False, id="dnsbl-progress")
        yield StatusTable(["list", "subject", "state", "code / meaning", "reason", "delist"],
                          level_column=2, id="dnsbl-table")

    def reset(self) -> None:
        self.query_one(StatusTable).clear_rows()
        lists = dnsbl.select_lists(self.settings)
        self.query_one(ProgressBar).update(total=max(1, len(lists)), progress=0)
        self._done = 0

    def _on_result(self, item: dnsbl.ListResult) -> None:
        self._done += 1
        bar = self.query_one(ProgressBar)
        if bar.total is not None and self._done > bar.total:
            bar.update(total=self._done)  # several subjects: one row per list and address
        bar.update(progress=self._done)
        self._row(item)
        self.verdict("running", f"DNSBL: {self._done} list answers so far …")

    def _row(self, item: dnsbl.ListResult) -> None:
        meaning = "; ".join(f"{c} {m}".strip() for c, m in zip(item.codes, item.meanings,
                                                                  strict=False))
        self.query_one(StatusTable).set_row(
            f"{item.list_id} {item.subject}",
            [item.name, item.subject, item.status.value, meaning or item.message,
             " ".join(item.txt)[:120], item.delist if item.status is dnsbl.ListStatus.LISTED
             else ""],
            _LEVEL[item.status],
        )

    async def check(self, target: Target, settings: Settings) -> dnsbl.DnsblResult:
        return await dnsbl.run(target, settings, on_result=self._on_result)

    def show(self, result: dnsbl.DnsblResult) -> None:
        for item in result.results:
            self._row(item)
        done = max(1, len(result.results))
        self.query_one(ProgressBar).update(total=done, progress=done)
        level, _summary = SUMMARIES["dnsbl"](result)
        self.verdict(level, result.message)

    def csv_rows(self, result: Any) -> tuple[Sequence[str], Iterable[Sequence[object]]]:
        return ("list", "zone", "subject", "state", "codes", "meanings", "txt", "delist"), [
            (r.name, r.zone, r.subject, r.status.value, " ".join(r.codes),
             "; ".join(r.meanings), " | ".join(r.txt), r.delist)
            for r in result.results
        ]
