"""The real app driven by Pilot against the demo lab world on loopback."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import DataTable, TabbedContent

from tui.app import MxScopeApp
from tui.lab.runner import LabThread
from tui.lab.world import DEMO_EXAMPLES, LabWorld
from tui.tabs import TAB_CLASSES
from tui.tabs.base import ToolTab
from widgets.kv_panel import KeyValuePanel
from widgets.rtt_chart import RttChart
from widgets.status_table import StatusTable

SIZE = (140, 45)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabWorld]:
    with LabThread() as lab:
        yield lab.start(LabWorld(tmp_path_factory.mktemp("world")))


@pytest.fixture
def app(world: LabWorld, tmp_path: Path) -> MxScopeApp:
    return MxScopeApp(world.settings.replace(ping_interval=0.05), examples=DEMO_EXAMPLES,
                      export_dir=tmp_path / "exports", survey_db=tmp_path / "s.sqlite")


async def wait_idle(pilot, tab: ToolTab, limit: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    waited = 0.0
    await pilot.pause()
    while tab.running and waited < limit:
        await pilot.pause(0.05)
        waited += 0.05
    await pilot.pause()
    assert not tab.running, f"{tab.tool} still running after {limit} s"


async def run_in(pilot, app: MxScopeApp, tool: str, target: str) -> ToolTab:  # type: ignore[no-untyped-def]
    index = [cls.tool for cls in TAB_CLASSES].index(tool) + 1
    await pilot.pause()  # let start-up's own tab activation settle first
    await pilot.press(f"f{index}")
    tab = app.tab(tool)
    assert app.query_one(TabbedContent).active == f"pane-{tool}"
    tab.field.value = ""
    await pilot.press(*target, "enter")
    await wait_idle(pilot, tab)
    return tab


def cells(table: DataTable, column: str) -> list[str]:
    return [str(table.get_cell(row, column)) for row in table.rows]


async def test_ping_tab_streams_and_summarises(app: MxScopeApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        tab = await run_in(pilot, app, "ping", "127.0.1.25")
        assert tab.banner.level == "pass", tab.banner.text
        assert "0 % loss" in tab.banner.text or "0.0 % loss" in tab.banner.text
        assert len(tab.query_one(RttChart).samples) == app.settings.ping_count
        assert tab.query_one(StatusTable).row_count == app.settings.ping_count
        pairs = dict(tab.query_one(KeyValuePanel).pairs)
        assert pairs["sent / received"] == "5 / 5"
        assert pairs["method"] in ("icmp", "icmp-unprivileged") or pairs["method"].startswith(
            "tcp:")


async def test_rdns_tab_shows_fcrdns_failure(app: MxScopeApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        tab = await run_in(pilot, app, "rdns", "127.0.4.25")
        assert tab.banner.level == "fail"
        assert "does not resolve back" in tab.banner.text
        table = tab.query_one(StatusTable)
        assert cells(table, "PTR name") == ["dsl-127-0-4-25.isp.lab.test"]
        assert cells(table, "confirmed") == ["no"]


async def test_whois_tab(app: MxScopeApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        tab = await run_in(pilot, app, "whois", "81.2.69.160")
        pairs = dict(tab.query_one(KeyValuePanel).pairs)
        assert pairs["organisation"] == "Example Mail Hosting Ltd"
        assert pairs["abuse"] == "abuse@mailhost.example"
        assert pairs["ASN"] == "AS64500"
        assert tab.banner.level == "pass"


async def test_geoip_tab(app: MxScopeApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        tab = await run_in(pilot, app, "geoip", "mx2.lab.test")
        pairs = dict(tab.query_one(KeyValuePanel).pairs)
        assert pairs["country"] == "Netherlands (NL)"
        assert pairs["city"] == "Amsterdam"
        assert "Amsterdam" in tab.banner.text


async def test_ports_tab(app: MxScopeApp, world: LabWorld) -> None:
    async with app.run_test(size=SIZE) as pilot:
        tab = await run_in(pilot, app, "ports", "mx1.lab.test")
        table = tab.query_one(StatusTable)
        assert table.row_count == len(world.mail_ports)
        assert set(cells(table, "state")) == {"open"}
        assert tab.banner.level == "pass", tab.banner.text


async def test_relay_tab_open_and_closed(app: MxScopeApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        tab = await run_in(pilot, app, "relay", "relay.open.lab.test")
        assert tab.banner.level == "fail"
        assert tab.banner.text.startswith("OPEN RELAY")
        outcomes = cells(tab.query_one(StatusTable), "outcome")
        assert "accepted" in outcomes and len(outcomes) >= 16
        assert "DATA" not in "\n".join(tab.query_one("#relay-transcript").lines)
        tab = await run_in(pilot, app, "relay", "mx2.lab.test")
        assert tab.banner.level == "pass" and tab.banner.text.startswith("CLOSED")


async def test_dnsbl_tab_lists_and_progress(app: MxScopeApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        tab = await run_in(pilot, app, "dnsbl", "127.0.3.25")
        assert tab.banner.level == "fail"
        assert "Listed on 3" in tab.banner.text
        states = cells(tab.query_one(StatusTable), "state")
        assert states.count("listed") == 3
        assert tab.query_one("#dnsbl-progress").percentage == 1.0


async def test_diagnose_fills_table_and_drills_into_a_cell(app: MxScopeApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        tab = await run_in(pilot, app, "diagnose", "open.lab.test")
        table = tab.query_one(StatusTable)
        assert list(table.columns) and str(table.columns[list(table.columns)[1]].label) == (
            "127.0.3.25")
        assert table.row_values("relay")[1].startswith("OPEN RELAY")
        assert tab.banner.level == "fail"
        # Drill: cursor to the relay row, address column, Enter → the Relay tab runs on it.
        table.focus()
        table.cursor_coordinate = (list(table.rows).index("relay"), 1)  # type: ignore[assignment]
        await pilot.press("enter")
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "pane-relay"
        relay_tab = app.tab("relay")
        assert relay_tab.field.value == "127.0.3.25"
        await wait_idle(pilot, relay_tab)
        assert relay_tab.banner.text.startswith("OPEN RELAY")


async def test_shared_target_follows_tabs_and_enter_runs(app: MxScopeApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        tab = await run_in(pilot, app, "geoip", "mx1.lab.test")
        assert app.shared_target == "mx1.lab.test"
        await pilot.press("f3")  # Reverse DNS: offered the same target, focus in the field
        rdns = app.tab("rdns")
        assert rdns.field.value == "mx1.lab.test"
        assert app.focused is rdns.field.input
        await pilot.press("enter")
        await wait_idle(pilot, rdns)
        assert rdns.banner.level == "pass" and "FCrDNS ok" in rdns.banner.text
        # Single keys work once the check has started: 5 switches back, r re-runs.
        await pilot.press("5")
        assert app.current_tab is tab
        await pilot.press("r")
        await wait_idle(pilot, tab)
        assert tab.banner.level == "pass"


async def test_history_and_validation(app: MxScopeApp, world: LabWorld) -> None:
    async with app.run_test(size=SIZE) as pilot:
        tab = await run_in(pilot, app, "geoip", "mx1.lab.test")
        await run_in(pilot, app, "geoip", "mx2.lab.test")
        tab.focus_input()
        await pilot.press("up")
        assert tab.field.value == "mx2.lab.test"
        await pilot.press("up")
        assert tab.field.value == "mx1.lab.test"
        asked = len(world.dns.log) if world.dns else 0
        tab.field.value = ""
        await pilot.press(*"bad host!", "enter")
        await pilot.pause()
        assert tab.field.error is not None and "white space" in tab.field.error
        assert not tab.running
        assert world.dns is not None and len(world.dns.log) == asked  # nothing was sent


async def test_escape_cancels_a_running_check(app: MxScopeApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f2")
        tab = app.tab("ping")
        tab.field.value = ""
        app.settings = app.settings.replace(ping_count=50, ping_interval=0.2)
        await pilot.press(*"127.0.1.25", "enter")
        await pilot.pause(0.3)
        assert tab.running
        await pilot.press("escape")
        await wait_idle(pilot, tab)
        assert tab.banner.level == "warn" and "cancelled" in tab.banner.text


async def test_export_writes_json_and_csv(app: MxScopeApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        tab = await run_in(pilot, app, "dnsbl", "127.0.3.25")
        await pilot.press("e")
        await pilot.pause()
        files = sorted(app.export_dir.iterdir())
        assert [f.suffix for f in files] == [".csv", ".json"]
        # The whole target and the time stamp stay in the name (dots are no suffix).
        assert all(re.fullmatch(r"mxscope-dnsbl-127\.0\.3\.25-\d{8}T\d{6}Z", f.stem)
                   for f in files), files
        doc = json.loads(files[1].read_text())
        assert doc["listed"] is True and doc["counts"]["listed"] == 3
        rows = list(csv.reader(files[0].open()))
        assert rows[0][:4] == ["list", "zone", "subject", "state"]
        assert sum(1 for r in rows[1:] if r[3] == "listed") == 3
        assert tab.result is not None


async def test_export_with_nothing_to_export(app: MxScopeApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f4")
        app.tab("whois").focus_body()
        await pilot.press("e")
        await pilot.pause()
        assert not app.export_dir.exists()


async def test_command_palette_runs_a_tool(app: MxScopeApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        app.shared_target = "relay.open.lab.test"
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Relay test on")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        tab = app.tab("relay")
        assert app.query_one(TabbedContent).active == "pane-relay"
        await wait_idle(pilot, tab)
        assert tab.banner.text.startswith("OPEN RELAY")


async def test_keys_panel_and_binding_hygiene(app: MxScopeApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        app.current_tab.focus_body()
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.query("HelpPanel")
    bindings = list(MxScopeApp.BINDINGS)
    for cls in TAB_CLASSES:
        bindings.extend(getattr(cls, "BINDINGS", []))
    for binding in bindings:
        assert binding.id, f"binding {binding.key} has no id"  # type: ignore[union-attr]
        assert binding.description, f"binding {binding.key} has no description"  # type: ignore[union-attr]


async def test_a_crashing_check_is_shown_not_raised(app: MxScopeApp,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from tui.probes import geoip

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(geoip, "run", broken)
    async with app.run_test(size=SIZE) as pilot:
        tab = await run_in(pilot, app, "geoip", "mx1.lab.test")
        assert tab.banner.level == "fail"
        assert "RuntimeError: database on fire" in tab.banner.text
        assert app.is_running
