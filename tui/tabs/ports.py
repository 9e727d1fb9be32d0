"""Ports tab: the mail ports checked at once — state, connect time, banner, TLS and certificate."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from textual.app import ComposeResult

from tui.config import Settings
from tui.probes import ports
from tui.probes.diagnose import SUMMARIES
from tui.probes.target import Target
from tui.tabs.base import ToolTab
from widgets.status_table import StatusTable


def _tls_cell(item: ports.PortResult) -> str:
    if item.tls_error:
        return f"failed: {item.tls_error}"
    if item.tls is None:
        return "offered, not used" if item.starttls_offered else "—"
    info = item.tls
    problems = ", ".join(info.problems) if info.problems else "verified"
    return f"{info.version} {problems}"


def _cert_cell(item: ports.PortResult) -> str:
    info = item.tls
    if info is None:
        return "—"
    return f"{info.subject_cn or '?'} · {info.days_left} d left · {info.issuer_cn or '?'}"


class PortsTab(ToolTab):
    tool = "ports"
    title = "Ports"
    palette_verb = "Port check"

    def compose_body(self) -> ComposeResult:
        yield StatusTable(["port", "service", "state", "ms", "TLS", "certificate", "banner"],
                          level_column=2, id="ports-table")

    def reset(self) -> None:
        table = self.query_one(StatusTable)
        table.clear_rows()
        for port in self.settings.ports:
            table.set_row(str(port), [port, "", "checking …", "", "", "", ""], "running")

    def _on_port(self, item: ports.PortResult) -> None:
        if item.state != "open":
            level = "warn" if item.state == "filtered" else ("fail" if item.state == "error"
                                                             else "idle")
        else:
            level = "fail" if item.tls_problem else "pass"
        ms = f"{item.connect_ms:.1f}" if item.connect_ms is not None else "—"
        self.query_one(StatusTable).set_row(str(item.port), [
            item.port, item.service, item.state, ms, _tls_cell(item), _cert_cell(item),
            item.banner[:80],
        ], level)

    async def check(self, target: Target, settings: Settings) -> ports.PortsResult:
        return await ports.run(target, settings, on_port=self._on_port)

    def show(self, result: ports.PortsResult) -> None:
        for item in result.ports:
            self._on_port(item)
        level, summary = SUMMARIES["ports"](result)
        self.verdict(level, summary)

    def csv_rows(self, result: Any) -> tuple[Sequence[str], Iterable[Sequence[object]]]:
        return ("port", "service", "state", "connect_ms", "banner", "tls_version", "verified",
                "problems", "not_after"), [
            (p.port, p.service, p.state, p.connect_ms, p.banner,
             p.tls.version if p.tls else "", p.tls.verified if p.tls else "",
             "; ".join(p.tls.problems) if p.tls else p.tls_error,
             p.tls.not_after if p.tls else "")
            for p in result.ports
        ]
