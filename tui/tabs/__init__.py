"""One module per tab; thin: read input, start a worker, render a result."""

from __future__ import annotations

from tui.tabs.base import ToolTab
from tui.tabs.diagnose import DiagnoseTab
from tui.tabs.dnsbl import DnsblTab
from tui.tabs.geoip import GeoipTab
from tui.tabs.ping import PingTab
from tui.tabs.ports import PortsTab
from tui.tabs.rdns import RdnsTab
from tui.tabs.relay import RelayTab
from tui.tabs.survey import SurveyTab
from tui.tabs.whois import WhoisTab

# Order = key order: 1 Diagnose … 9 Survey.
TAB_CLASSES: tuple[type[ToolTab], ...] = (
    DiagnoseTab, PingTab, RdnsTab, WhoisTab, GeoipTab, PortsTab, RelayTab, DnsblTab, SurveyTab,
)
