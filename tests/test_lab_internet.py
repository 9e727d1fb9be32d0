"""The simulated internet: deterministic composition, real listeners that behave as composed,
per-address connection counters, the DNSBL zone, wildcard mode and the subprocess mode."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import sys
from collections import Counter

import pytest

from tui.config import Settings
from tui.lab.dns import DnsServer, Zone
from tui.lab.internet import (
    ANONYMOUS_GREETING,
    CLASSIC_MIX,
    PRESET_CATEGORY,
    Internet,
    InternetSpec,
    compose,
    lab_country,
)
from tui.probes import dnsbl, relay
from tui.probes.fingerprint import identify
from tui.probes.smtp import grab_banner
from tui.probes.target import parse_target


def test_composition_is_deterministic_and_exact() -> None:
    spec = InternetSpec(network="127.0.0.0/21", listeners=500, silent=0.1, rejecting=0.04,
                        resetting=0.02, open_relays=0.1, blacklisted=0.2, seed=11)
    hosts = compose(spec)
    assert hosts == compose(spec)  # same seed, same internet
    assert hosts != compose(InternetSpec(network="127.0.0.0/21", listeners=500, seed=12))
    assert len(hosts) == 500
    net = ipaddress.ip_network(spec.network)
    for address, host in hosts.items():
        ip = ipaddress.ip_address(address)
        assert ip in net and address != "127.0.0.1" and int(ip) & 0xFF not in (0, 255)
        assert host.country == lab_country(address)
    kinds = Counter(h.kind for h in hosts.values())
    assert kinds["silent"] == 50 and kinds["reject"] == 20 and kinds["reset"] == 10
    answering = [h for h in hosts.values() if h.kind in ("answer", "open-relay")]
    assert len(answering) == 420
    assert kinds["open-relay"] == 42 and sum(h.listed for h in hosts.values()) == 84
    assert not any(h.listed for h in hosts.values() if h.kind not in ("answer", "open-relay"))
    # The classic page's shares, exactly (largest remainder over 420 answering hosts).
    shares = Counter(PRESET_CATEGORY[h.preset] for h in answering)
    weight = Counter()
    for preset, w in CLASSIC_MIX:
        weight[PRESET_CATEGORY[preset]] += w
    for category, w in weight.items():
        assert abs(shares[category] - 420 * w / 100) < len(CLASSIC_MIX)
    assert shares["Sendmail"] > shares["Postfix"] > shares["qmail"] > shares["Exim"]
    # Spread over the eight lab countries.
    assert len({h.country for h in hosts.values()}) == 8


def test_expected_counts_follow_help_and_subsets() -> None:
    internet = Internet(InternetSpec(network="127.0.1.0/24", listeners=100, seed=3))
    comp = internet.composition
    whole = comp.expected()
    assert sum(whole["by_outcome"].values()) == 256
    assert whole["by_outcome"]["refused"] == 156
    with_help = comp.expected(help=True)
    anonymous = sum(1 for h in comp.hosts.values()
                    if h.kind in ("answer", "open-relay") and h.preset in ANONYMOUS_GREETING
                    and h.preset != "generic")
    assert with_help["by_mta"].get("qmail", 0) == anonymous > 0
    assert "qmail" not in whole["by_mta"]  # greeting only: qmail names nothing
    subset = list(comp.hosts)[:10] + ["127.0.1.0", "127.0.1.255"]
    part = comp.expected(subset)
    assert sum(part["by_outcome"].values()) == 12
    assert part["by_outcome"]["refused"] == 2


async def test_listeners_behave_as_composed_and_are_counted() -> None:
    spec = InternetSpec(network="127.0.2.0/24", listeners=80, silent=0.1, rejecting=0.05,
                        resetting=0.05, open_relays=0.1, seed=5)
    async with Internet(spec) as internet:
        comp = internet.composition
        assert internet.port and comp.port == internet.port
        sem = asyncio.Semaphore(64)
        seen: Counter[str] = Counter()
        mta: Counter[str] = Counter()

        async def one(address: str) -> None:
            async with sem:
                r = await grab_banner(address, internet.port, connect_timeout=3,
                                      greeting_timeout=1.0, ehlo="survey.lab.test", help=True)
            outcome = "rejected" if r.outcome == "answered" and r.rejected else r.outcome
            assert outcome == comp.outcome_of(address), (address, r)
            seen[outcome] += 1
            if outcome == "answered":
                host = comp.host(address)
                assert host is not None and r.ehlo_code == 250 and r.help
                mta[identify(r.greeting, r.ehlo, r.help).category] += 1

        await asyncio.gather(*(one(str(a)) for a in ipaddress.ip_network(spec.network)))
        expected = comp.expected(help=True)
        assert dict(seen) == {k: v for k, v in expected["by_outcome"].items() if v}
        assert dict(mta) == expected["by_mta"]
        # Every listener was connected to exactly once; addresses nobody listens on: 0.
        for address in comp.hosts:
            assert internet.connections(address) == 1, address
        assert internet.connections("127.0.2.0") == 0
        counts = internet.connection_counts()
        assert sum(counts.values()) == 80
        first = next(iter(comp.hosts))
        await grab_banner(first, internet.port, connect_timeout=3, greeting_timeout=1)
        assert internet.connections(first) == 2


async def test_relay_test_closed_on_fast_hosts_open_on_relays_and_never_data() -> None:
    spec = InternetSpec(network="127.0.3.0/24", listeners=40, silent=0, rejecting=0,
                        resetting=0, open_relays=0.25, seed=8)
    async with Internet(spec) as internet:
        comp = internet.composition
        settings = Settings(nameservers=("127.0.0.1:9",), connect_timeout=3,
                            greeting_timeout=3, smtp_timeout=3)
        fast = next(h for h in comp.hosts.values() if h.kind == "answer")
        open_ = next(h for h in comp.hosts.values() if h.kind == "open-relay")
        closed = await relay.run(parse_target(fast.address), settings, port=internet.port)
        assert closed.verdict is relay.Verdict.CLOSED, closed.message
        opened = await relay.run(parse_target(open_.address), settings, port=internet.port)
        assert opened.verdict is relay.Verdict.OPEN_RELAY, opened.message
        assert internet.data_commands == 0
        sessions = internet.relay_sessions()
        assert sessions and not any(s.data_seen for s in sessions)
        assert not any(c.upper().startswith(("DATA", "BDAT")) for s in sessions
                       for c in s.commands)
        assert internet.connections(open_.address) == 1


async def test_dnsbl_zone_lists_exactly_the_blacklisted_hosts() -> None:
    spec = InternetSpec(network="127.0.4.0/24", listeners=30, blacklisted=0.3, seed=2)
    internet = Internet(spec)
    zone = Zone()
    internet.add_dnsbl(zone, "bl.lab.test")
    async with DnsServer(zone) as server:
        settings = Settings(nameservers=(server.nameserver,), dnsbl_zones=("bl.lab.test",),
                            dns_timeout=3)
        for host in internet.composition.hosts.values():
            found = await dnsbl.run(parse_target(host.address), settings)
            assert found.listed is host.listed, host
    assert sum(h.listed for h in internet.hosts.values()) == round(
        sum(h.kind in ("answer", "open-relay") for h in internet.hosts.values()) * 0.3)


async def test_wildcard_mode_serves_all_of_loopback() -> None:
    spec = InternetSpec(network="127.0.5.0/24", listeners=20, silent=0, rejecting=0,
                        resetting=0, open_relays=0, wildcard=True, seed=4)
    async with Internet(spec) as internet:
        comp = internet.composition
        host = next(iter(comp.hosts.values()))
        r = await grab_banner(host.address, internet.port, connect_timeout=3,
                              greeting_timeout=2)
        assert r.outcome == "answered" and r.code == 220
        # Any other 127/8 address accepts and stays silent.
        r = await grab_banner("127.201.7.9", internet.port, connect_timeout=3,
                              greeting_timeout=0.3)
        assert r.outcome == "timeout" and comp.outcome_of("127.201.7.9") == "timeout"
        assert internet.connections("127.201.7.9") == 1
        assert internet.connections(host.address) == 1
    with pytest.raises(ValueError, match="open relays"):
        InternetSpec(wildcard=True, open_relays=0.1)


async def test_greeting_delay_simulates_latency() -> None:
    spec = InternetSpec(network="127.0.7.0/24", listeners=3, silent=0, rejecting=0,
                        resetting=0, open_relays=0, greeting_delay=1.0, seed=6)
    async with Internet(spec) as internet:
        address = next(iter(internet.composition.hosts))
        early = await grab_banner(address, internet.port, connect_timeout=3,
                                  greeting_timeout=0.2)
        assert early.outcome == "timeout"  # the greeting cannot come before the delay
        late = await grab_banner(address, internet.port, connect_timeout=3,
                                 greeting_timeout=10, help=True)
        assert late.outcome == "answered" and late.code == 220 and late.help
    with pytest.raises(ValueError, match="greeting_delay"):
        InternetSpec(greeting_delay=60.0)


async def test_refuses_to_start_beyond_the_open_files_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda _which: (300, 300))
    internet = Internet(InternetSpec(network="127.0.7.0/24", listeners=100, seed=1))
    with pytest.raises(OSError, match="ulimit -n"):
        await internet.start()
    assert internet._servers == [] and internet.relays == {}  # nothing was opened


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="127.0.0.0/8"):
        InternetSpec(network="10.0.0.0/24")
    with pytest.raises(ValueError, match="listeners"):
        InternetSpec(network="127.0.0.0/30", listeners=5)
    with pytest.raises(ValueError, match="fraction"):
        InternetSpec(silent=1.5)
    with pytest.raises(ValueError, match="preset"):
        InternetSpec(mix=(("nosuch", 1.0),))


async def test_runs_in_its_own_process() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tui.lab.internet", "--listeners", "12", "--network",
        "127.0.6.0/24", "--seed", "9", "--silent", "0", "--rejecting", "0", "--resetting", "0",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        doc = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        assert doc["listeners"] == 12 and len(doc["hosts"]) == 12 and doc["port"] > 0
        expected = compose(InternetSpec(network="127.0.6.0/24", listeners=12, seed=9,
                                        silent=0, rejecting=0, resetting=0))
        assert [h["address"] for h in doc["hosts"]] == list(expected)
        address = doc["hosts"][0]["address"]
        r = await grab_banner(address, doc["port"], connect_timeout=5, greeting_timeout=5)
        assert r.outcome == "answered"
        proc.stdin.write(b"counts\n")
        await proc.stdin.drain()
        counts = json.loads(await asyncio.wait_for(proc.stdout.readline(), 10))
        assert counts["counts"] == {address: 1} and counts["data_commands"] == 0
        proc.stdin.write(b"quit\n")
        await proc.stdin.drain()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
