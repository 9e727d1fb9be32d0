"""The Survey tab driven by Pilot over the simulated internet on 127.0.0.0/8."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Input

from tui.app import MxScopeApp
from tui.lab.internet import InternetSpec
from tui.lab.runner import LabThread
from tui.lab.world import LabWorld
from tui.survey.store import SurveyStore
from widgets.distribution import DistributionPanel

SIZE = (140, 50)
SPEC = InternetSpec(network="127.0.0.0/22", listeners=160, seed=3)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabWorld]:
    with LabThread() as lab:
        yield lab.start(LabWorld(tmp_path_factory.mktemp("world"), internet=SPEC))


def make_app(world: LabWorld, db: Path) -> MxScopeApp:
    assert world.internet is not None
    return MxScopeApp(world.settings.replace(survey_timeout=1.0, dnsbl_zones=("zen.spamhaus.org",)),
                       survey_source=SPEC.network,
                      survey_port=world.internet.port, survey_lab=True, survey_db=db,
                      export_dir=db.parent / "exports")


async def open_survey(pilot, app: MxScopeApp, rate: str):  # type: ignore[no-untyped-def]
    await pilot.pause()
    await pilot.press("f9")
    tab = app.tab("survey")
    app.query_one("#survey-rate", Input).value = rate
    app.query_one("#survey-timeout", Input).value = "1"
    return tab


async def test_survey_runs_live_pauses_and_stops(world: LabWorld, tmp_path: Path) -> None:
    app = make_app(world, tmp_path / "s.sqlite")
    async with app.run_test(size=SIZE) as pilot:
        tab = await open_survey(pilot, app, rate="150")  # ~7 s for 1,024 addresses
        await pilot.press("ctrl+s")
        seen_scanned: list[int] = []
        seen_mta_rows: list[tuple] = []
        for _ in range(12):
            await pilot.pause(0.25)
            snap = tab.last_snapshot
            if snap is not None:
                seen_scanned.append(snap.scanned)
                seen_mta_rows.append(tuple(tab.query_one("#panel-mta",
                                                         DistributionPanel).rows))
        assert tab.survey is not None and tab.survey.state == "running"
        assert len(set(seen_scanned)) >= 3, seen_scanned  # the numbers move while it runs
        assert len(set(seen_mta_rows)) >= 2  # so do the panels
        assert tab.samples >= 3
        # Pause: the count settles once the targets in flight are done.
        await pilot.press("f10")
        assert tab.survey.state == "paused"
        await pilot.pause(1.5)
        settled = tab.survey.stats.snapshot().scanned
        await pilot.pause(0.6)
        assert tab.survey.stats.snapshot().scanned == settled
        await pilot.press("f10")
        assert tab.survey.state == "running"
        await pilot.pause(0.5)
        assert tab.survey.stats.snapshot().scanned > settled
        await pilot.press("ctrl+x")
        for _ in range(60):
            await pilot.pause(0.1)
            if not tab.running:
                break
        assert tab.survey.state == "stopped"
        assert "stopped" in tab.banner.text
        stopped_id = tab.survey_id
        assert stopped_id is not None
    store = SurveyStore(tmp_path / "s.sqlite")
    info = store.get(stopped_id)
    assert info.state == "stopped" and 0 < info.stored < 1024
    store.close()


async def test_survey_completes_with_the_lab_composition(world: LabWorld,
                                                         tmp_path: Path) -> None:
    app = make_app(world, tmp_path / "s.sqlite")
    assert world.internet is not None
    expected = world.internet.composition.expected(help=True, relay=True, dnsbl=True)
    async with app.run_test(size=SIZE) as pilot:
        tab = await open_survey(pilot, app, rate="0")
        for box in ("#survey-relay", "#survey-dnsbl"):
            app.query_one(box).value = True  # type: ignore[attr-defined]
        for field in ("#survey-relay-rate", "#survey-dnsbl-rate"):
            app.query_one(field, Input).value = "0"  # unlimited: the lab is ours
        await pilot.press("ctrl+s")
        for _ in range(600):
            await pilot.pause(0.1)
            if not tab.running:
                break
        assert tab.survey is not None and tab.survey.state == "finished"
        snap = tab.survey.stats.snapshot()
        assert snap.scanned == 1024
        assert {k: v for k, v in snap.by_outcome.items() if v} == {
            k: v for k, v in expected["by_outcome"].items() if v}
        assert dict(snap.by_mta) == dict(expected["by_mta"])
        assert dict(snap.by_mta)["qmail"] > 0  # HELP is asked, so qmail is recognised
        assert dict(snap.by_country) == dict(expected["by_country"])
        assert dict(snap.open_relays_by_mta) == dict(expected["open_relays_by_mta"])
        assert dict(snap.blacklisted_by_mta) == dict(expected["blacklisted_by_mta"])
        assert snap.open_relays > 0 and snap.blacklisted > 0
        relays = tab.query_one("#panel-relay", DistributionPanel)
        assert sum(count for _, count, _ in relays.rows) == snap.open_relays
        mta = tab.query_one("#panel-mta", DistributionPanel)
        assert {label for label, _, _ in mta.rows} <= set(dict(expected["by_mta"])) | {"others"}
        assert "finished" in tab.banner.text
        # Export writes the report (JSON and CSV) of this survey.
        tab.focus_body()
        await pilot.press("e")
        await pilot.pause()
        assert sorted(p.suffix for p in app.export_dir.iterdir()) == [".csv", ".json"]


async def test_bad_form_values_are_shown_and_nothing_starts(world: LabWorld,
                                                            tmp_path: Path) -> None:
    app = make_app(world, tmp_path / "s.sqlite")
    async with app.run_test(size=SIZE) as pilot:
        tab = await open_survey(pilot, app, rate="fast")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert tab.survey is None
        assert "rate" in tab.banner.text and tab.banner.level == "fail"
        app.query_one("#survey-rate", Input).value = "0"
        app.query_one("#survey-source", Input).value = "10.0.0.0/8"
        await pilot.press("ctrl+s")
        await pilot.pause()
        # Reserved ranges are never scanned: the whole source is refused up front or
        # every address is skipped — either way no connection is made.
        for _ in range(50):
            await pilot.pause(0.1)
            if not tab.running:
                break
        if tab.survey is not None:
            assert tab.survey.stats.snapshot().scanned == 0


async def test_past_surveys_reopen_and_resume(world: LabWorld, tmp_path: Path) -> None:
    """A stopped survey is listed (Ctrl+L); selecting it resumes it to the end, and the
    store then holds every target exactly once."""
    db = tmp_path / "s.sqlite"
    app = make_app(world, db)
    async with app.run_test(size=SIZE) as pilot:
        tab = await open_survey(pilot, app, rate="150")
        await pilot.press("ctrl+s")
        await pilot.pause(1.5)
        await pilot.press("ctrl+x")
        for _ in range(60):
            await pilot.pause(0.1)
            if not tab.running:
                break
        assert tab.survey is not None and tab.survey.state == "stopped"
        first = tab.survey.stats.snapshot().scanned
        assert 0 < first < 1024
    app = make_app(world, db)  # a new session of the app, as after a restart
    async with app.run_test(size=SIZE) as pilot:
        tab = await open_survey(pilot, app, rate="0")
        await pilot.press("ctrl+l")
        await pilot.pause()
        from textual.widgets import DataTable

        past = app.query_one("#survey-past", DataTable)
        assert past.row_count == 1
        assert str(past.get_cell_at((0, 1))) == "stopped"
        past.focus()
        await pilot.press("enter")
        for _ in range(300):
            await pilot.pause(0.1)
            if tab.survey is not None and not tab.running:
                break
        assert tab.survey is not None and tab.survey.state == "finished"
        assert tab.survey.stats.snapshot().scanned == 1024
    store = SurveyStore(db)
    info = store.list()[0]
    assert info.state == "finished" and info.stored == 1024
    assert store.count(info.id) == 1024
    store.close()


@pytest.mark.parametrize("where", ["a directory", "under a file"])
async def test_unusable_store_is_reported_not_fatal(world: LabWorld, tmp_path: Path,
                                                    where: str) -> None:
    if where == "a directory":
        db = tmp_path / "db"
        db.mkdir()  # SQLite cannot open a directory: StoreError
    else:
        (tmp_path / "file").write_text("")
        db = tmp_path / "file" / "s.sqlite"  # its folder cannot be made: OSError
    app = make_app(world, db)
    async with app.run_test(size=SIZE) as pilot:
        tab = await open_survey(pilot, app, rate="150")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.is_running and not tab.running
        assert tab.banner.level == "fail" and "Survey not started" in tab.banner.text
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert app.is_running and not tab.has_class("-show-past")
