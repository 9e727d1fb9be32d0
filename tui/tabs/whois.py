"""Whois tab: RDAP registration of an address — ASN, network, organisation, abuse contact."""

from __future__ import annotations

from textual.app import ComposeResult

from tui.config import Settings
from tui.probes import whois
from tui.probes.base import Status
from tui.probes.target import Target
from tui.tabs.base import ToolTab
from widgets.kv_panel import KeyValuePanel
from widgets.status_table import StatusTable


def _join(values: object) -> str:
    if isinstance(values, tuple | list):
        return ", ".join(str(v) for v in values) or "—"
    return "—" if values in (None, "") else str(values)


class WhoisTab(ToolTab):
    tool = "whois"
    title = "Whois"
    palette_verb = "Whois (RDAP)"

    def compose_body(self) -> ComposeResult:
        yield KeyValuePanel(id="whois-summary")
        yield StatusTable(["role", "name", "e-mail"], id="whois-contacts")

    def reset(self) -> None:
        self.query_one(KeyValuePanel).set_pairs([])
        self.query_one(StatusTable).clear_rows()

    async def check(self, target: Target, settings: Settings) -> whois.WhoisResult:
        return await whois.run(target, settings)

    def show(self, result: whois.WhoisResult) -> None:
        ok = result.status is Status.OK
        abuse = _join(result.abuse_emails)
        self.query_one(KeyValuePanel).set_pairs([
            ("address", result.ip or "—"),
            ("ASN", f"AS{result.asn}" if result.asn else "—"),
            ("AS name", result.asn_description),
            ("AS prefix", result.asn_prefix),
            ("network", f"{_join(result.network_cidrs)}  {result.network_name or ''}".strip()),
            ("handle", result.network_handle),
            ("organisation", result.org_name),
            ("country", result.country or result.asn_country),
            ("registry", result.rir or result.asn_registry),
            ("abuse", abuse, "pass" if result.abuse_emails else ("warn" if ok else None)),
            ("special range", result.special_range),
            ("cached", "yes" if result.cached else "no"),
        ])
        table = self.query_one(StatusTable)
        for i, contact in enumerate(result.contacts):
            roles = ", ".join(contact.roles)
            table.set_row(str(i), [roles, contact.name or contact.handle,
                                   _join(contact.emails)],
                          "info" if "abuse" in contact.roles else None)
        if not ok:
            self.verdict("fail", result.message)
        elif result.special_range:
            self.verdict("info", result.message)
        else:
            who = result.org_name or result.network_name or "unknown organisation"
            self.verdict("pass" if result.abuse_emails else "warn",
                         f"AS{result.asn or '?'} {who}; abuse: {abuse}")
