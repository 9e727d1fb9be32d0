"""Diagnose tab: a domain or host end to end — MX → addresses → one verdict table whose
cells fill as each check completes. Enter on a cell opens that check's tab for its address."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable

from tui.config import Settings
from tui.probes import diagnose
from tui.probes.target import Target
from tui.tabs.base import ToolTab
from widgets.kv_panel import KeyValuePanel
from widgets.status_table import StatusTable

CHECK_TITLES = {"ping": "Ping", "rdns": "PTR / FCrDNS", "whois": "Whois", "geoip": "Country",
                "ports": "Ports / TLS", "smtp": "Greeting / MTA", "relay": "Relay",
                "dnsbl": "DNSBL"}
CELL_WIDTH = 60


class DiagnoseTable(StatusTable):
    """One row per check, one column per mail host address; Enter opens the cell's tab."""

    BINDINGS = [Binding("enter", "drill", "Open in its tab", id="diagnose.drill")]

    def action_drill(self) -> None:
        coordinate = self.cursor_coordinate
        self.post_message(self.CellSelected(self, self.get_cell_at(coordinate), coordinate,
                                            self.coordinate_to_cell_key(coordinate)))


class DiagnoseTab(ToolTab):
    tool = "diagnose"
    title = "Diagnose"
    palette_verb = "Diagnose"
    placeholder = "domain, mail host or IP address — Enter runs every check"

    def compose_body(self) -> ComposeResult:
        yield KeyValuePanel(id="diagnose-mx")
        yield DiagnoseTable(["check"], id="diagnose-table", cursor_type="cell")

    def reset(self) -> None:
        self.query_one(KeyValuePanel).set_pairs([])
        table = self.query_one(DiagnoseTable)
        table.reset_columns(["check"])

    def _on_mx(self, hosts: tuple[diagnose.MxHost, ...]) -> None:
        pairs: list[tuple[str, object, Any]] = []
        for host in hosts:
            pref = f"MX {host.preference}" if host.preference is not None else "host"
            addrs = ", ".join(host.addresses) or f"({host.status}) {host.message}"
            pairs.append((pref, f"{host.name} → {addrs}",
                           None if host.addresses else "fail"))
        self.query_one(KeyValuePanel).set_pairs(pairs)
        ips = list(dict.fromkeys(ip for host in hosts for ip in host.addresses))
        ips = ips[: diagnose.MAX_ADDRESSES]
        table = self.query_one(DiagnoseTable)
        table.reset_columns(["check", *ips])
        for check in diagnose.CHECKS:
            table.set_row(check, [CHECK_TITLES[check], *("…" for _ in ips)])
        self.verdict("running", f"Diagnose: {len(ips)} address(es), checks running …")

    def _on_cell(self, cell: diagnose.Cell) -> None:
        table = self.query_one(DiagnoseTable)
        text = cell.summary if len(cell.summary) <= CELL_WIDTH else (
            cell.summary[: CELL_WIDTH - 1] + "…")
        table.set_cell(cell.check, cell.ip, text, cell.level)

    async def check(self, target: Target, settings: Settings) -> diagnose.DiagnoseResult:
        return await diagnose.run(target, settings, on_mx=self._on_mx, on_cell=self._on_cell)

    def show(self, result: diagnose.DiagnoseResult) -> None:
        if self.query_one(DiagnoseTable).row_count == 0 and result.mx:
            self._on_mx(result.mx)
        for cell in result.cells:
            self._on_cell(cell)
        if not result.cells:
            self.verdict("fail", f"{result.target}: {result.message}")
            return
        level = "fail" if result.problems else (
            "warn" if any(c.level == "warn" for c in result.cells) else "pass")
        self.verdict(level, f"{result.target}: {result.message}")

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        check = event.cell_key.row_key.value
        ip = event.cell_key.column_key.value
        if check in CHECK_TITLES and ip and ip != "check":
            self.app.run_tool(check, ip)  # type: ignore[attr-defined]

    def csv_rows(self, result: Any) -> tuple[Sequence[str], Iterable[Sequence[object]]]:
        return ("address", "check", "level", "summary"), [
            (c.ip, c.check, c.level, c.summary) for c in result.cells
        ]
