"""Reverse DNS tab: PTR names per address and whether each is forward-confirmed (FCrDNS)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from textual.app import ComposeResult

from tui.config import Settings
from tui.probes import rdns
from tui.probes.base import Status
from tui.probes.target import Target
from tui.tabs.base import ToolTab
from widgets.status_table import StatusTable

_LEVEL = {"confirmed": "pass", "unconfirmed": "fail", "no_ptr": "fail", "failed": "warn"}


class RdnsTab(ToolTab):
    tool = "rdns"
    title = "Reverse DNS"
    palette_verb = "Reverse DNS / FCrDNS"

    def compose_body(self) -> ComposeResult:
        yield StatusTable(["address", "PTR status", "PTR name", "resolves to", "confirmed"],
                          level_column=4, id="rdns-table")

    def reset(self) -> None:
        self.query_one(StatusTable).clear_rows()

    async def check(self, target: Target, settings: Settings) -> rdns.RdnsResult:
        return await rdns.run(target, settings)

    def show(self, result: rdns.RdnsResult) -> None:
        table = self.query_one(StatusTable)
        for addr in result.addresses:
            level = _LEVEL.get(addr.outcome, "warn")
            if not addr.forward:
                table.set_row(addr.ip, [addr.ip, addr.ptr_status.value, "—", "—",
                                        addr.verdict], level)
            for fwd in addr.forward:
                table.set_row(f"{addr.ip} {fwd.name}", [
                    addr.ip, addr.ptr_status.value, fwd.name,
                    ", ".join(fwd.addresses) or fwd.status.value,
                    "yes" if fwd.confirmed else "no",
                ], "pass" if fwd.confirmed else "fail")
        if result.status is not Status.OK and not result.addresses:
            self.verdict("fail", result.host_message or result.message)
        elif result.fcrdns:
            self.verdict("pass", result.message)
        else:
            self.verdict("fail" if result.status is Status.OK else "warn", result.message)

    def csv_rows(self, result: Any) -> tuple[Sequence[str], Iterable[Sequence[object]]]:
        rows = []
        for addr in result.addresses:
            for fwd in addr.forward or (None,):
                rows.append((addr.ip, addr.ptr_status.value, fwd.name if fwd else "",
                             " ".join(fwd.addresses) if fwd else "",
                             fwd.confirmed if fwd else False, addr.verdict))
        return ("ip", "ptr_status", "ptr_name", "forward", "confirmed", "verdict"), rows
