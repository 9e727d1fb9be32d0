"""Snapshot tests: every tab with a real lab result, at a fixed size, deterministic.

Update after an intended change of look with `pytest tests/test_snapshots.py
--snapshot-update`, then regenerate the screenshots (`python3 screenshots/make.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from snapshot_support import normalize
from textual.pilot import Pilot
from textual.widgets import Input

from tui.app import MxScopeApp
from tui.lab.internet import InternetSpec
from tui.lab.runner import LabThread
from tui.lab.world import DEMO_EXAMPLES, LabWorld
from tui.probes import diagnose, dnsbl, geoip, ping, ports, rdns, relay, whois
from tui.probes.target import parse_target

SIZE = (120, 36)

PROBES: dict[str, tuple[Callable[..., Awaitable[Any]], str]] = {
    "diagnose": (diagnose.run, "lab.test"),
    "ping": (ping.run, "127.0.1.25"),
    "rdns": (rdns.run, "127.0.4.25"),
    "whois": (whois.run, "81.2.69.160"),
    "geoip": (geoip.run, "mx2.lab.test"),
    "ports": (ports.run, "mx1.lab.test"),
    "relay": (relay.run, "relay.open.lab.test"),
    "dnsbl": (dnsbl.run, "127.0.3.25"),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabWorld]:
    # A fixed port (below the ephemeral range): it is shown in the survey form.
    spec = InternetSpec(network="127.0.0.0/22", listeners=160, seed=3, port=2526)
    with LabThread() as lab:
        yield lab.start(LabWorld(tmp_path_factory.mktemp("world"), internet=spec))


def make_app(world: LabWorld, tmp_path: Path) -> MxScopeApp:
    # Deterministic: ping by TCP-free ICMP is still timed, so results are normalised; the
    # demo's examples and no user config (the conftest clears MXSCOPE_* and XDG dirs).
    assert world.internet is not None
    settings = world.settings.replace(survey_timeout=1.0, dnsbl_zones=("zen.spamhaus.org",))
    return MxScopeApp(settings, examples=DEMO_EXAMPLES,
                      export_dir=tmp_path, survey_db=tmp_path / "s.sqlite",
                      survey_source="127.0.0.0/22", survey_port=world.internet.port,
                      survey_lab=True)


def show_result(tool: str) -> Callable[[Pilot], Awaitable[None]]:
    async def run_before(pilot: Pilot) -> None:
        app: MxScopeApp = pilot.app  # type: ignore[assignment]
        for widget in app.query(Input):
            widget.cursor_blink = False
        app.action_switch_tab(tool)
        tab = app.tab(tool)
        probe, target = PROBES[tool]
        result = normalize(await probe(parse_target(target), app.settings))
        tab.field.value = target
        tab.reset()
        tab.result = result
        tab.show(result)
        await pilot.pause(0.2)
        app.set_focus(tab.query_one(".tool-body"))
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("tool", list(PROBES))
def test_tab_snapshot(tool: str, world: LabWorld, tmp_path: Path, snap_compare: Any) -> None:
    assert snap_compare(make_app(world, tmp_path), terminal_size=SIZE,
                        run_before=show_result(tool))


def test_validation_error_snapshot(world: LabWorld, tmp_path: Path, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot) -> None:
        for widget in pilot.app.query(Input):
            widget.cursor_blink = False
        await pilot.press("f3")
        tab = pilot.app.tab("rdns")  # type: ignore[attr-defined]
        tab.field.value = "mx1.lab.test\r\nMAIL FROM:<x>"
        tab.start()
        await pilot.pause()

    assert snap_compare(make_app(world, tmp_path), terminal_size=SIZE, run_before=run_before)


def test_survey_snapshot(world: LabWorld, tmp_path: Path, snap_compare: Any) -> None:
    """A finished survey of the simulated internet: summary strip and the four panels."""

    async def run_before(pilot: Pilot) -> None:
        app: MxScopeApp = pilot.app  # type: ignore[assignment]
        for widget in app.query(Input):
            widget.cursor_blink = False
        app.action_switch_tab("survey")
        tab = app.tab("survey")
        for box in ("#survey-relay", "#survey-dnsbl"):
            app.query_one(box).value = True  # type: ignore[attr-defined]
        for field in ("#survey-relay-rate", "#survey-dnsbl-rate"):
            app.query_one(field, Input).value = "0"
        tab.action_start()
        for _ in range(600):
            await pilot.pause(0.1)
            if not tab.running:
                break
        assert tab.survey is not None and tab.survey.state == "finished"
        tab.survey = None  # stop the sampler from redrawing live (timing) values
        tab._draw(normalize(tab.result))
        await pilot.pause(0.2)  # let queued focus/tab messages land before choosing focus
        app.set_focus(tab.query_one(".tool-body"))
        await pilot.pause()

    assert snap_compare(make_app(world, tmp_path), terminal_size=(140, 48),
                        run_before=run_before)
