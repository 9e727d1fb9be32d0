"""The survey engine against the simulated internet: counts equal the lab's composition,
relay/DNSBL per MTA, exclusions and reserved ranges never touched, pause/resume/stop,
resume after SIGKILL of a real `mxscope survey` process, a million targets in bounded
memory, per-target failures as ERROR records."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import sys
from pathlib import Path

import pytest

from tui.config import Settings
from tui.lab.dns import DnsServer, Zone
from tui.lab.geoipdb import build_lab_dbs
from tui.lab.internet import Internet, InternetSpec
from tui.probes.geoip import GeoLookup
from tui.probes.smtp import BannerResult
from tui.survey import engine as engine_module
from tui.survey.engine import Survey, SurveyOptions, TokenBucket
from tui.survey.record import Outcome
from tui.survey.stats import StatsSnapshot
from tui.survey.store import StoreError, SurveyStore
from tui.survey.targets import Exclusions, SourceSpec, TargetItem

ROOT = Path(__file__).resolve().parent.parent
# Generous waits: a loaded machine must not turn a greeting into a timeout. Silent hosts
# cost one greeting wait each, in parallel.
WAIT = 1.5


@pytest.fixture(scope="module")
def geo_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    dbs = build_lab_dbs(tmp_path_factory.mktemp("geo"))
    # A loopback nameserver that is never asked: CIDR sources need no DNS.
    return dbs.apply(Settings(nameservers=("127.0.0.1:9",), dns_timeout=3))


def options(port: int, **kw: object) -> SurveyOptions:
    base: dict[str, object] = {"port": port, "concurrency": 200, "connect_timeout": WAIT,
                               "greeting_timeout": WAIT}
    base.update(kw)
    return SurveyOptions(**base)  # type: ignore[arg-type]


def cidr(value: str, **kw: object) -> SourceSpec:
    return SourceSpec("cidr", value, allow_loopback=True, **kw)  # type: ignore[arg-type]


def as_dicts(snap: StatsSnapshot) -> dict[str, object]:
    return {
        "by_outcome": snap.by_outcome, "by_mta": dict(snap.by_mta),
        "by_country": dict(snap.by_country), "open_relays_by_mta": dict(snap.open_relays_by_mta),
        "blacklisted_by_mta": dict(snap.blacklisted_by_mta), "relay_tested": snap.relay_tested,
        "dnsbl_tested": snap.dnsbl_tested,
    }


async def wait_for(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_counts_equal_the_lab_composition(geo_settings: Settings, tmp_path: Path) -> None:
    """Two surveys of the same internet at once: greeting and HELP (qmail identified), and
    greeting only (qmail's anonymous "220 host ESMTP" counts as Unidentified)."""
    spec = InternetSpec(network="127.0.0.0/21", listeners=400, silent=0.05, rejecting=0.02,
                        resetting=0.02, seed=21)
    async with Internet(spec) as internet:
        comp = internet.composition
        with SurveyStore(tmp_path / "s.sqlite") as store:
            surveys = {ask_help: Survey(cidr(comp.network), geo_settings,
                                        options(internet.port, help=ask_help), store,
                                        geo=GeoLookup(geo_settings))
                       for ask_help in (True, False)}
            snaps = await asyncio.gather(*(s.run() for s in surveys.values()))
            for (ask_help, survey), snap in zip(surveys.items(), snaps, strict=True):
                assert survey.state == "finished" and survey.errors == 0
                expected = comp.expected(help=ask_help)
                assert as_dicts(snap) == expected
                assert snap.scanned == snap.total == 2048
                assert snap.available == expected["by_outcome"]["answered"]
                assert len(snap.by_country) == 8  # the lab's eight countries
                info = store.get(survey.survey_id)  # type: ignore[arg-type]
                assert info.state == "finished" and info.stored == 2048
                assert info.watermark == 2047 and info.available == snap.available
            assert dict(snaps[0].by_mta)["qmail"] > 0 and "qmail" not in dict(snaps[1].by_mta)
            for address in comp.hosts:  # every listener scanned exactly once per survey
                assert internet.connections(address) == 2, address


async def test_relay_and_dnsbl_per_mta_and_never_data(geo_settings: Settings,
                                                      tmp_path: Path) -> None:
    spec = InternetSpec(network="127.0.1.0/24", listeners=120, silent=0.05, rejecting=0.05,
                        resetting=0, open_relays=0.12, blacklisted=0.2, seed=5)
    internet = Internet(spec)
    zone = Zone()
    internet.add_dnsbl(zone, "bl.lab.test")
    async with internet, DnsServer(zone) as dns:
        settings = geo_settings.replace(nameservers=(dns.nameserver,),
                                        dnsbl_zones=("bl.lab.test",))
        comp = internet.composition
        with SurveyStore(tmp_path / "s.sqlite") as store:
            survey = Survey(cidr(comp.network), settings,
                            options(internet.port, help=True, relay=True, dnsbl=True,
                                    relay_rate=500, dnsbl_rate=500), store,
                            geo=GeoLookup(settings))
            snap = await survey.run()
            assert survey.errors == 0, survey.last_error
            assert as_dicts(snap) == comp.expected(help=True, relay=True, dnsbl=True)
            assert snap.open_relays > 0 and snap.blacklisted > 0
            for record in store.records(survey.survey_id):  # type: ignore[arg-type]
                host = comp.host(record.address)
                if record.outcome is Outcome.ANSWERED:
                    assert host is not None
                    assert record.relay == ("open-relay" if host.kind == "open-relay"
                                            else "closed")
                    assert record.dnsbl_listed == int(host.listed)
                else:  # only available servers are relay-tested and DNSBL-checked
                    assert record.relay is None and record.dnsbl_listed is None
    # The relay test never sent DATA: the real SmtpServers' sessions and the fast hosts.
    sessions = internet.relay_sessions()
    assert sessions and not any(s.data_seen for s in sessions)
    assert not any(c.upper().startswith(("DATA", "BDAT")) for s in sessions for c in s.commands)
    assert internet.data_commands == 0


async def test_exclusions_and_reserved_ranges_are_never_touched(geo_settings: Settings) -> None:
    spec = InternetSpec(network="127.0.2.0/24", listeners=150, silent=0, rejecting=0,
                        resetting=0, seed=9)
    async with Internet(spec) as internet:
        comp = internet.composition
        listeners = sorted(comp.hosts, key=lambda a: ipaddress.ip_address(a))
        excluded_singles = listeners[::10]  # listeners the user asked us to leave alone
        exclusions = Exclusions(["127.0.2.0/26", *excluded_singles])
        excluded = {a for a in comp.hosts if exclusions.contains(a)}
        assert len(excluded) > len(excluded_singles)  # the /26 holds listeners too
        # Reserved ranges in the source: private, documentation and multicast space.
        source = cidr("127.0.2.0/24,10.1.2.0/30,192.0.2.0/29,224.0.0.0/30")
        survey = Survey(source, geo_settings, options(internet.port), None,
                        exclusions=exclusions, geo=GeoLookup(geo_settings))
        snap = await survey.run()
        scanned = [str(a) for a in ipaddress.ip_network("127.0.2.0/24")
                   if not exclusions.contains(str(a))]
        assert snap.scanned == len(scanned) == snap.total
        assert snap.by_outcome == comp.expected(scanned)["by_outcome"]
        assert snap.skipped_by_reason == {"reserved": 4 + 8 + 4,
                                          "excluded": 256 - len(scanned)}
        for address in excluded:
            assert internet.connections(address) == 0, address
        for address in set(comp.hosts) - excluded:
            assert internet.connections(address) == 1, address

        # Without the lab switch, 127.0.0.0/8 is reserved too: nothing at all is sent.
        before = internet.connection_counts()
        survey = Survey(SourceSpec("cidr", "127.0.2.0/24"), geo_settings,
                        options(internet.port), None)
        snap = await survey.run()
        assert snap.scanned == 0 and snap.skipped_by_reason == {"reserved": 256}
        assert internet.connection_counts() == before


async def test_pause_resume_stop_and_reopen(geo_settings: Settings, tmp_path: Path) -> None:
    spec = InternetSpec(network="127.0.3.0/24", listeners=200, silent=0, rejecting=0,
                        resetting=0, seed=13)
    async with Internet(spec) as internet:
        comp = internet.composition
        store = SurveyStore(tmp_path / "s.sqlite")
        survey = Survey(cidr(comp.network), geo_settings,
                        options(internet.port, concurrency=20, rate=150), store)
        task = asyncio.create_task(survey.run())
        await wait_for(lambda: survey.stats.scanned >= 30)
        survey.pause()
        assert survey.state == "paused"
        assert store.get(survey.survey_id).state == "paused"  # type: ignore[arg-type]
        await wait_for(lambda: survey.in_flight == 0)  # in-flight targets finish
        paused_at = survey.stats.scanned
        touched = sum(internet.connection_counts().values())
        await asyncio.sleep(0.5)
        assert survey.stats.scanned == paused_at  # nothing new while paused
        assert sum(internet.connection_counts().values()) == touched
        survey.resume()
        assert survey.state == "running"
        await wait_for(lambda: survey.stats.scanned >= paused_at + 30)
        survey.stop()
        snap = await asyncio.wait_for(task, 30)
        assert survey.state == "stopped"
        assert 0 < snap.scanned < 256
        info = store.get(survey.survey_id)  # type: ignore[arg-type]
        assert info.state == "stopped" and info.stored == snap.scanned  # all flushed

        # Reopen: continues from the store; counts rebuilt from its aggregate.
        again = Survey.reopen(store, survey.survey_id, geo_settings,  # type: ignore[arg-type]
                              geo=GeoLookup(geo_settings))
        assert again.stats.snapshot().scanned == snap.scanned
        final = await again.run()
        assert again.state == "finished"
        assert final.scanned == 256
        assert final.by_outcome == comp.expected()["by_outcome"]
        seqs = [r.seq for r in store.records(survey.survey_id)]  # type: ignore[arg-type]
        assert seqs == list(range(256))
        for address in comp.hosts:  # stop flushed everything: nothing scanned twice
            assert internet.connections(address) == 1, address
        store.close()


async def test_force_stop_abandons_targets_in_flight(geo_settings: Settings,
                                                     tmp_path: Path) -> None:
    spec = InternetSpec(network="127.0.4.0/24", listeners=60, silent=1.0, rejecting=0,
                        resetting=0, seed=1)
    async with Internet(spec) as internet:
        with SurveyStore(tmp_path / "s.sqlite") as store:
            survey = Survey(cidr("127.0.4.0/24"), geo_settings,
                            options(internet.port, concurrency=300, greeting_timeout=120),
                            store)
            task = asyncio.create_task(survey.run())
            await wait_for(lambda: sum(internet.connection_counts().values()) == 60)
            survey.stop(force=True)  # without force this would wait out 120 s greetings
            snap = await asyncio.wait_for(task, 30)
            assert survey.state == "stopped"
            assert snap.by_outcome["timeout"] == 0  # the silent ones were abandoned
            assert store.get(survey.survey_id).state == "stopped"  # type: ignore[arg-type]


async def test_resume_after_sigkill_of_a_real_process(tmp_path: Path) -> None:
    spec = InternetSpec(network="127.0.5.0/24", listeners=220, silent=0, rejecting=0.02,
                        resetting=0.02, seed=17)
    db = tmp_path / "kill.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    async def mxscope(*args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tui.cli", "survey", *args, "--db", str(db), "--quiet",
            "--timeout", str(WAIT), cwd=str(ROOT), env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)

    async with Internet(spec) as internet:
        comp = internet.composition
        proc = await mxscope("127.0.5.0/24", "--allow-loopback", "--port", str(internet.port),
                             "--concurrency", "20", "--rate", "100")
        try:
            def committed() -> int:
                if not db.exists():
                    return 0
                with SurveyStore(db) as reader:
                    infos = reader.list()
                    return infos[0].stored if infos else 0

            await wait_for(lambda: committed() >= 40 or proc.returncode is not None)
            proc.send_signal(signal.SIGKILL)
            assert await proc.wait() == -signal.SIGKILL
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        with SurveyStore(db) as store:
            (info,) = store.list()
            assert info.state == "crashed"  # marked running, its process gone
            before = {r.address: r.seq for r in store.records(info.id)}
        assert 40 <= len(before) < 256  # killed mid-scan

        resumed = await mxscope("--resume", str(info.id))
        _, err = await asyncio.wait_for(resumed.communicate(), 60)
        assert resumed.returncode == 0, err.decode()

        with SurveyStore(db) as store:
            final = store.get(info.id)
            records = list(store.records(info.id))
        assert final.state == "finished"
        assert [r.seq for r in records] == list(range(256))  # every target exactly once
        assert len({r.address for r in records}) == 256
        assert all(before[r.address] == r.seq for r in records if r.address in before)
        for address in comp.hosts:
            n = internet.connections(address)
            if address in before:
                assert n == 1, address  # committed before the kill: never rescanned
            else:
                assert n in (1, 2), address  # in flight or buffered at the kill: once more
        outcomes = {o: sum(r.outcome.value == o for r in records)
                    for o in ("answered", "rejected", "refused", "timeout", "reset", "error")}
        assert outcomes == comp.expected()["by_outcome"]


def test_a_million_targets_stream_in_bounded_memory(geo_settings: Settings) -> None:
    """1,048,576 targets (127.0.0.0/12) through the engine with an injected instant grab
    (every target "refused", no sockets: a million real connects would take minutes; the
    bench measures RSS with real connections). Everything else is real: the CIDR source,
    100 workers, the stats. RSS is sampled by the grab every 65,536 targets; its growth
    after the first 131,072 must stay small. Runs on uvloop when installed, as the
    headless CLI does (and to keep this test short)."""
    samples: list[int] = []
    page = os.sysconf("SC_PAGE_SIZE")
    calls = 0
    refused = BannerResult("refused", None, (), None, (), None, (), None, None,
                           "connection refused")

    def rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * page

    async def instant_grab(host: str, port: int, **_: object) -> BannerResult:
        nonlocal calls
        calls += 1
        if calls % 65536 == 0:
            samples.append(rss())
        await asyncio.sleep(0)  # a real grab always yields to the loop
        return refused

    async def scan() -> StatsSnapshot:
        survey = Survey(cidr("127.0.0.0/12"), geo_settings, options(25, concurrency=100),
                        None, grab=instant_grab)
        return await survey.run()

    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - optional
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        snap = runner.run(scan())
    assert snap.scanned == calls == 1 << 20
    assert snap.by_outcome["refused"] == 1 << 20
    assert len(samples) == 16
    growth = max(samples) - samples[1]
    assert growth < 16 * 1024 * 1024, [s // 1024 for s in samples]


async def test_exceptions_inside_one_target_become_error_records(
        geo_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    greeting = BannerResult("answered", 220, ("220 mx.lab.test ESMTP Postfix",), None, (),
                            None, (), 0.1, 0.1, "")

    async def flaky_grab(host: str, port: int, **_: object) -> BannerResult:
        if host.endswith(".13") or host.endswith(".14"):
            raise RuntimeError("boom")
        return greeting

    async def broken_relay(*_: object, **__: object) -> object:
        raise RuntimeError("relay exploded")

    seen: list[StatsSnapshot] = []

    def broken_display(snap: StatsSnapshot) -> None:
        seen.append(snap)
        raise ValueError("the UI fell over")

    monkeypatch.setattr(engine_module.relay_probe, "run", broken_relay)
    survey = Survey(cidr("127.0.6.0/28"), geo_settings, options(25, relay=True, relay_rate=0),
                    None, grab=flaky_grab, observer=broken_display)
    records = []
    original_add = survey.stats.add
    survey.stats.add = lambda r: (records.append(r), original_add(r))[1]  # type: ignore[method-assign]
    snap = await survey.run()
    assert survey.state == "finished" and survey.errors == 2
    assert "boom" in survey.last_error or "relay exploded" in survey.last_error
    assert snap.scanned == 16 and snap.by_outcome["error"] == 2
    assert snap.available == 14 and dict(snap.by_mta) == {"Postfix": 14}
    assert {r.relay for r in records if r.outcome is Outcome.ANSWERED} == {"error"}
    assert snap.open_relays == 0
    assert seen and seen[-1] == snap  # the observer got the final snapshot, and its
    # exception did not end the survey


async def test_a_store_failure_while_recording_loses_no_target(geo_settings: Settings) -> None:
    # Finished targets are recorded a batch at a time (_drain). If the store fails midway,
    # the targets not yet recorded wait for the next drain: none lost, none counted twice.
    class FlakyStore:
        def __init__(self) -> None:
            self.added: list = []
            self.fail_next_at: int | None = 2

        def add(self, survey_id: int, record: object) -> None:
            if len(self.added) == self.fail_next_at:
                self.fail_next_at = None
                raise StoreError("disk full")
            self.added.append(record)

    store = FlakyStore()
    survey = Survey(cidr("127.0.6.0/29"), geo_settings, options(25), store)  # type: ignore[arg-type]
    greeting = BannerResult("answered", 220, ("220 mx.lab.test ESMTP Postfix",), None, (),
                            None, (), 0.1, 0.2, "")
    survey._in_flight = 5
    survey._finished = [(TargetItem(i, f"127.0.6.{i}", "x"), greeting, None, None, 1.0, "")
                        for i in range(5)]
    with pytest.raises(StoreError):
        survey._drain()
    assert [r.seq for r in store.added] == [0, 1]
    assert survey.stats.scanned == 2 and survey.in_flight == 3
    assert [entry[0].seq for entry in survey._finished] == [2, 3, 4]
    survey._drain()
    assert [r.seq for r in store.added] == [0, 1, 2, 3, 4]
    assert survey.stats.scanned == 5 and survey.in_flight == 0 and not survey._finished
    assert {(r.outcome, r.category, r.scanned_at) for r in store.added} == {
        (Outcome.ANSWERED, "Postfix", 1.0)}


def test_token_bucket_spaces_slots() -> None:
    now = [100.0]
    bucket = TokenBucket(10.0, burst=3, clock=lambda: now[0])
    delays = [bucket.reserve() for _ in range(6)]
    assert delays[:3] == [0.0, 0.0, 0.0]  # the burst
    assert delays[3:] == pytest.approx([0.1, 0.2, 0.3])
    now[0] = 110.0  # idle: the burst refills, no debt is kept
    assert bucket.reserve() == 0.0
    bucket.reset()
    assert bucket.reserve() == 0.0


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="port"):
        SurveyOptions(port=0)
    with pytest.raises(ValueError, match="concurrency"):
        SurveyOptions(concurrency=0)
    with pytest.raises(ValueError, match="rate"):
        SurveyOptions(rate=-1)
    opts = SurveyOptions.from_settings(Settings(survey_timeout=2.5, smtp_port=2525),
                                       relay=True, rate=None)
    assert (opts.port, opts.connect_timeout, opts.greeting_timeout, opts.relay,
            opts.rate) == (2525, 2.5, 2.5, True, 0.0)


async def test_a_stop_with_targets_still_prefetched_is_stopped_not_finished(
        geo_settings: Settings, tmp_path: Path) -> None:
    """The whole source fits in the prefetch queue (it is exhausted at the first pull);
    a stop then leaves targets unscanned, so the survey is resumable, not finished."""
    refused = BannerResult("refused", None, (), None, (), None, (), None, None,
                           "connection refused")
    grabbed: list[str] = []
    survey: Survey | None = None

    async def grab(host: str, port: int, **_: object) -> BannerResult:
        grabbed.append(host)
        if len(grabbed) == 4 and survey is not None:
            survey.stop()
        await asyncio.sleep(0)
        return refused

    with SurveyStore(tmp_path / "s.sqlite") as store:
        survey = Survey(cidr("127.0.8.0/28"), geo_settings, options(25, concurrency=1), store,
                        grab=grab)
        snap = await survey.run()
        assert survey.state == "stopped" and snap.scanned == 4
        survey_id = survey.survey_id
        assert survey_id is not None and store.get(survey_id).state == "stopped"
        survey = None
        again = Survey.reopen(store, survey_id, geo_settings, grab=grab)
        assert (await again.run()).scanned == 16 and again.state == "finished"
        assert grabbed == [f"127.0.8.{i}" for i in range(16)]


async def test_the_exclusion_file_is_honoured_on_resume_and_beside_explicit_exclusions(
        geo_settings: Settings, tmp_path: Path) -> None:
    """A resumed survey keeps its stored exclusions (the seqs depend on them), but an
    address the exclusion file lists now (added after the start) is still never scanned;
    a new survey given exclusions by its caller skips the file's entries too."""
    refused = BannerResult("refused", None, (), None, (), None, (), None, None,
                           "connection refused")
    grabbed: list[str] = []
    survey: Survey | None = None

    async def grab(host: str, port: int, **_: object) -> BannerResult:
        grabbed.append(host)
        if len(grabbed) == 4 and survey is not None:
            survey.stop()  # stop mid-way, as Ctrl-C would
        await asyncio.sleep(0)
        return refused

    exclude = tmp_path / "exclude.txt"
    exclude.write_text("127.0.8.10\n127.0.8.12/31  # asked us not to, after the start\n")
    with SurveyStore(tmp_path / "s.sqlite") as store:
        survey = Survey(cidr("127.0.8.0/28"), geo_settings, options(25, concurrency=1), store,
                        grab=grab)
        await survey.run()
        assert survey.state == "stopped" and grabbed == [f"127.0.8.{i}" for i in range(4)]
        survey_id = survey.survey_id
        assert survey_id is not None

        grabbed.clear()
        survey = None
        again = Survey.reopen(store, survey_id, geo_settings.replace(
            survey_exclude_file=str(exclude)), grab=grab)
        snap = await again.run()
        assert again.state == "finished"
        assert grabbed == [f"127.0.8.{i}" for i in (4, 5, 6, 7, 8, 9, 11, 14, 15)]
        assert snap.skipped_by_reason == {"excluded": 3}
        assert store.count(survey_id) == 13

    grabbed.clear()
    fresh = Survey(cidr("127.0.8.0/28"), geo_settings.replace(survey_exclude_file=str(exclude)),
                   options(25, concurrency=1), None, exclusions=Exclusions(["127.0.8.0/30"]),
                   grab=grab)
    await fresh.run()
    assert grabbed == [f"127.0.8.{i}" for i in (4, 5, 6, 7, 8, 9, 11, 14, 15)]
