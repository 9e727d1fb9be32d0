"""Reverse DNS and FCrDNS against the lab DNS server (real UDP on loopback)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tui.cli import main
from tui.config import Settings
from tui.lab.dns import DnsServer, Zone
from tui.lab.runner import LabThread
from tui.probes import rdns
from tui.probes.base import Status
from tui.probes.target import parse_target

# Short enough that the silent zones keep the tests quick, long enough that a loaded
# machine still answers every other question in time.
SHORT = 0.5


def _zone() -> Zone:
    zone = Zone()
    # 127.0.0.10 <-> mx1.lab.test, also ::1 <-> mx1.lab.test: forward-confirmed.
    zone.add_host("mx1.lab.test", "127.0.0.10", "::1")
    # 127.0.0.11: PTR points at a name that resolves elsewhere.
    zone.add("11.0.0.127.in-addr.arpa", "PTR", "liar.lab.test.")
    zone.add("liar.lab.test", "A", "127.0.0.99")
    # 127.0.0.12: no PTR at all (NXDOMAIN). 127.0.0.13: reverse name exists, no PTR.
    zone.add("13.0.0.127.in-addr.arpa", "TXT", "no ptr here")
    # 127.0.0.14: PTR to a name that does not exist.
    zone.add("14.0.0.127.in-addr.arpa", "PTR", "ghost.lab.test.")
    # 127.0.0.15: reverse zone broken; 127.0.0.16: reverse server silent.
    zone.behave("15.0.0.127.in-addr.arpa", "servfail")
    zone.behave("16.0.0.127.in-addr.arpa", "timeout")
    # 127.0.0.17: PTR fine, but the forward zone of the name is silent.
    zone.add("17.0.0.127.in-addr.arpa", "PTR", "mx.slow.lab.test.")
    zone.behave("slow.lab.test", "timeout")
    # 127.0.0.18: two PTR names, only the second one confirms (and in upper case).
    zone.add("18.0.0.127.in-addr.arpa", "PTR", "other.lab.test.", "MX2.Lab.Test.")
    zone.add("other.lab.test", "A", "127.0.0.99")
    zone.add("mx2.lab.test", "A", "127.0.0.18")
    # A host with two addresses of which one is not confirmed.
    zone.add("mixed.lab.test", "A", "127.0.0.10", "127.0.0.11")
    # A host with 20 addresses (only 16 are checked).
    zone.add("many.lab.test", "A", *(f"127.0.1.{i}" for i in range(1, 21)))
    zone.behave("refusing.lab.test", "refused")
    return zone


def _settings(server: DnsServer, timeout: float = 2.0) -> Settings:
    return Settings(nameservers=(server.nameserver,), dns_timeout=timeout)


async def _run(server: DnsServer, target: str, timeout: float = 2.0) -> rdns.RdnsResult:
    return await rdns.run(parse_target(target), _settings(server, timeout))


async def test_ipv4_forward_confirmed() -> None:
    async with DnsServer(_zone()) as server:
        result = await _run(server, "127.0.0.10")
    assert result.status is Status.OK
    assert result.fcrdns is True
    assert result.message == "FCrDNS ok: mx1.lab.test ↔ 127.0.0.10"
    (check,) = result.addresses
    assert check.names == ("mx1.lab.test",)
    assert check.outcome == "confirmed"
    assert check.forward[0].addresses == ("127.0.0.10", "::1")
    assert check.forward[0].rdtype == "A"
    assert ("10.0.0.127.in-addr.arpa", "PTR", "udp") in server.log


async def test_ipv6_forward_confirmed_uses_nibble_reverse_name() -> None:
    async with DnsServer(_zone()) as server:
        result = await _run(server, "::1")
    assert result.fcrdns is True
    assert result.addresses[0].forward[0].rdtype == "AAAA"
    nibbles = "1" + ".0" * 31 + ".ip6.arpa"
    assert result.addresses[0].ptr_name == nibbles
    assert (nibbles, "PTR", "udp") in server.log


async def test_ptr_that_resolves_elsewhere_is_not_confirmed() -> None:
    async with DnsServer(_zone()) as server:
        result = await _run(server, "127.0.0.11")
    assert result.status is Status.OK  # the lookups worked; the finding is in fcrdns
    assert result.fcrdns is False
    assert result.addresses[0].outcome == "unconfirmed"
    assert result.message == (
        "PTR liar.lab.test does not resolve back to 127.0.0.11 (it resolves to 127.0.0.99)"
    )


async def test_no_ptr_nxdomain_and_no_data_are_distinct() -> None:
    async with DnsServer(_zone()) as server:
        nx = await _run(server, "127.0.0.12")
        nodata = await _run(server, "127.0.0.13")
    assert nx.addresses[0].ptr_status is Status.NXDOMAIN
    assert nx.addresses[0].outcome == "no_ptr"
    assert nx.message == "no PTR for 127.0.0.12 (NXDOMAIN)"
    assert nodata.addresses[0].ptr_status is Status.NOANSWER
    assert nodata.addresses[0].outcome == "no_ptr"
    assert "has no PTR record" in nodata.message
    assert not nx.fcrdns and not nodata.fcrdns


async def test_ptr_name_that_does_not_exist() -> None:
    async with DnsServer(_zone()) as server:
        result = await _run(server, "127.0.0.14")
    fwd = result.addresses[0].forward[0]
    assert fwd.status is Status.NXDOMAIN
    assert result.addresses[0].outcome == "unconfirmed"
    assert result.message == "PTR ghost.lab.test does not resolve back to 127.0.0.14 (NXDOMAIN)"


async def test_ptr_servfail_and_timeout_are_failures_not_findings() -> None:
    async with DnsServer(_zone()) as server:
        servfail = await _run(server, "127.0.0.15", timeout=SHORT)
        silent = await _run(server, "127.0.0.16", timeout=SHORT)
    assert servfail.status is Status.SERVFAIL
    assert servfail.addresses[0].outcome == "failed"
    assert "SERVFAIL" in servfail.message
    assert silent.status is Status.TIMEOUT
    assert silent.addresses[0].outcome == "failed"
    assert silent.message.startswith("PTR lookup for 127.0.0.16 failed")


async def test_forward_lookup_timeout_is_a_failure() -> None:
    async with DnsServer(_zone()) as server:
        result = await _run(server, "127.0.0.17", timeout=SHORT)
    assert result.status is Status.TIMEOUT
    assert result.addresses[0].outcome == "failed"
    assert result.addresses[0].forward[0].status is Status.TIMEOUT
    assert result.message.startswith("cannot confirm PTR mx.slow.lab.test for 127.0.0.17")


async def test_one_of_several_ptr_names_confirms() -> None:
    async with DnsServer(_zone()) as server:
        result = await _run(server, "127.0.0.18")
    check = result.addresses[0]
    assert check.names == ("mx2.lab.test", "other.lab.test")  # lower-cased and sorted
    assert [f.confirmed for f in check.forward] == [True, False]
    assert result.fcrdns is True
    assert result.message == "FCrDNS ok: mx2.lab.test ↔ 127.0.0.18"


async def test_hostname_checks_every_address() -> None:
    async with DnsServer(_zone()) as server:
        good = await _run(server, "mx1.lab.test")
        mixed = await _run(server, "mixed.lab.test")
    assert good.host_status is Status.OK
    assert [c.ip for c in good.addresses] == ["127.0.0.10", "::1"]
    assert good.fcrdns is True
    assert good.message.startswith("FCrDNS ok for all 2 addresses")
    assert mixed.fcrdns is False
    assert [c.outcome for c in mixed.addresses] == ["confirmed", "unconfirmed"]
    assert mixed.message.startswith("1 of 2 addresses fail: PTR liar.lab.test")


async def test_hostname_address_cap() -> None:
    async with DnsServer(_zone()) as server:
        result = await _run(server, "many.lab.test")
    assert result.truncated is True
    assert len(result.addresses) == rdns.MAX_ADDRESSES
    assert "first 16 addresses" in result.message


async def test_hostname_that_does_not_resolve() -> None:
    async with DnsServer(_zone()) as server:
        missing = await _run(server, "nothing.lab.test")
        refused = await _run(server, "refusing.lab.test", timeout=0.5)
    assert missing.status is Status.NXDOMAIN
    assert missing.addresses == ()
    assert missing.message == "nothing.lab.test does not exist (NXDOMAIN)"
    assert refused.status is Status.ERROR
    assert "REFUSED" in refused.message


@pytest.mark.parametrize(
    ("names", "hostname", "expected"),
    [
        (["mx1.example.com"], "MX1.Example.COM.", True),
        (["mx1.example.com."], "mx1.example.com", True),
        (("a.example", "b.example"), "b.example", True),
        (["mx1.example.com"], "mx2.example.com", False),
        (["mx1.example.com"], "", False),
        ([], "mx1.example.com", False),
        (["mx1.example.com"], "example.com", False),
    ],
)
def test_name_matches(names: list[str], hostname: str, expected: bool) -> None:
    assert rdns.name_matches(names, hostname) is expected


# -- CLI ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab_server():
    with LabThread() as lab:
        yield lab.start(DnsServer(_zone()))


def _cli(server: DnsServer, *args: str):
    return CliRunner().invoke(main, ["rdns", *args, "--nameserver", server.nameserver,
                                     "--timeout", str(SHORT)])


def test_cli_text_ok(lab_server: DnsServer) -> None:
    result = _cli(lab_server, "127.0.0.10")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "127.0.0.10: FCrDNS ok: mx1.lab.test ↔ 127.0.0.10"
    assert "mx1.lab.test → 127.0.0.10, ::1  [confirmed]" in result.output


def test_cli_json(lab_server: DnsServer) -> None:
    result = _cli(lab_server, "127.0.0.11", "--json")
    assert result.exit_code == 3
    data = json.loads(result.output)
    assert set(data) == {"target", "kind", "status", "message", "fcrdns", "addresses",
                         "host_status", "host_message", "truncated", "elapsed_ms"}
    assert data["fcrdns"] is False
    assert data["addresses"][0]["outcome"] == "unconfirmed"
    assert data["addresses"][0]["forward"][0]["addresses"] == ["127.0.0.99"]


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("127.0.0.12", 3),  # no PTR
        ("127.0.0.14", 3),  # PTR does not resolve back
        ("127.0.0.15", 1),  # SERVFAIL
        ("127.0.0.16", 1),  # timeout
        ("nothing.lab.test", 3),  # the host name does not exist
        ("mx1.lab.test", 0),
    ],
)
def test_cli_exit_codes(lab_server: DnsServer, target: str, code: int) -> None:
    assert _cli(lab_server, target).exit_code == code


@pytest.mark.parametrize("bad", ["bad_host!", "1.2.3.4.5", "a..b", "host\r\nname", ""])
def test_cli_bad_input_sends_nothing(lab_server: DnsServer, bad: str) -> None:
    before = len(lab_server.log)
    result = _cli(lab_server, bad)
    assert result.exit_code == 2
    assert "mxscope: error:" in result.output
    assert len(lab_server.log) == before
