"""GeoIP tab: country, city, coordinates and ASN, and which database answered (and when built)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from tui.config import Settings
from tui.probes import geoip
from tui.probes.base import Status
from tui.probes.target import Target
from tui.tabs.base import ToolTab
from widgets.kv_panel import KeyValuePanel


class GeoipTab(ToolTab):
    tool = "geoip"
    title = "GeoIP"
    palette_verb = "GeoIP lookup"

    def compose_body(self) -> ComposeResult:
        yield KeyValuePanel(id="geoip-summary")
        yield Static("", id="geoip-attribution", classes="hint")

    def reset(self) -> None:
        self.query_one(KeyValuePanel).set_pairs([])
        self.query_one("#geoip-attribution", Static).update("")

    async def check(self, target: Target, settings: Settings) -> geoip.GeoipResult:
        return await geoip.run(target, settings)

    def show(self, result: geoip.GeoipResult) -> None:
        coords = (f"{result.latitude:.4f}, {result.longitude:.4f}"
                  if result.latitude is not None and result.longitude is not None else None)
        if coords and result.accuracy_radius_km:
            coords += f" (±{result.accuracy_radius_km} km)"
        country = (f"{result.country_name} ({result.country_code})"
                   if result.country_code else None)
        registered = (f"{result.registered_country_name} ({result.registered_country_code})"
                      if result.registered_country_code else None)
        self.query_one(KeyValuePanel).set_pairs([
            ("address", result.address),
            ("country", country, "pass" if country else None),
            ("registered country", registered,
             "warn" if registered and registered != country else None),
            ("continent", result.continent_name),
            ("city", result.city),
            ("region", result.subdivision_name),
            ("postal code", result.postal_code),
            ("coordinates", coords),
            ("time zone", result.time_zone),
            ("ASN", f"AS{result.asn} {result.asn_org or ''}".strip() if result.asn
             else (result.asn_message or None)),
            ("database", f"{result.db_type or '—'}  {result.db_path or ''}".strip()),
            ("built", result.db_built),
        ])
        self.query_one("#geoip-attribution", Static).update(result.attribution or "")
        if result.status is Status.OK:
            where = ", ".join(x for x in (result.city, result.country_name) if x)
            self.verdict("pass", f"{result.address}: {where or 'located'}")
        elif result.status is Status.NOANSWER:
            self.verdict("warn", result.message)
        else:
            self.verdict("fail", result.message)
