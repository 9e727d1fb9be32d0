"""The lab DNS server itself: real UDP and TCP on loopback, failure modes, delays."""

from __future__ import annotations

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from tui.config import Settings
from tui.lab.dns import DnsServer, Zone
from tui.probes.base import Status
from tui.probes.dnsutil import make_resolver, query


def _settings(server: DnsServer, timeout: float = 2.0) -> Settings:
    return Settings(nameservers=(server.nameserver,), dns_timeout=timeout)


def _zone() -> Zone:
    zone = Zone()
    zone.add_host("mx1.lab.test", "127.0.0.10", "::1")
    zone.add("text.lab.test", "TXT", "hello")
    zone.add("alias.lab.test", "CNAME", "mx1.lab.test.")
    zone.behave("broken.lab.test", "servfail")
    zone.behave("silent.lab.test", "timeout")
    zone.behave("closed.lab.test", "refused")
    return zone


async def test_udp_answer_and_log() -> None:
    async with DnsServer(_zone()) as server:
        answer = await query(make_resolver(_settings(server)), "mx1.lab.test", "A")
        assert answer.status is Status.OK
        assert answer.records == ("127.0.0.10",)
        assert server.log == [("mx1.lab.test", "A", "udp")]


async def test_tcp_answer() -> None:
    async with DnsServer(_zone()) as server:
        request = dns.message.make_query("mx1.lab.test", "AAAA")
        response = await dns.asyncquery.tcp(request, "127.0.0.1", port=server.port, timeout=2)
        assert response.rcode() == dns.rcode.NOERROR
        assert [r.to_text() for r in response.answer[0]] == ["::1"]
        assert server.log == [("mx1.lab.test", "AAAA", "tcp")]


async def test_truncated_udp_answer_makes_the_resolver_retry_over_tcp() -> None:
    zone = Zone()
    # Twelve distinct 200-byte strings: far beyond the 512-byte UDP limit.
    zone.add("big.lab.test", "TXT", *(chr(ord("a") + i) * 200 for i in range(12)))
    async with DnsServer(zone) as server:
        answer = await query(make_resolver(_settings(server)), "big.lab.test", "TXT")
        assert answer.status is Status.OK
        assert len(answer.records) == 12
        assert server.log == [("big.lab.test", "TXT", "udp"), ("big.lab.test", "TXT", "tcp")]


async def test_truncation_sets_tc_over_udp() -> None:
    zone = Zone()
    zone.add("big.lab.test", "TXT", *(chr(ord("a") + i) * 200 for i in range(12)))
    async with DnsServer(zone) as server:
        request = dns.message.make_query("big.lab.test", "TXT")
        response = await dns.asyncquery.udp(request, "127.0.0.1", port=server.port, timeout=2,
                                            ignore_trailing=True, raise_on_truncation=False)
        assert response.flags & dns.flags.TC
        assert response.answer == []


async def test_nxdomain_versus_no_data() -> None:
    async with DnsServer(_zone()) as server:
        resolver = make_resolver(_settings(server))
        missing = await query(resolver, "nothing.lab.test", "A")
        no_data = await query(resolver, "text.lab.test", "A")
        assert missing.status is Status.NXDOMAIN
        assert no_data.status is Status.NOANSWER


async def test_cname_is_followed() -> None:
    async with DnsServer(_zone()) as server:
        answer = await query(make_resolver(_settings(server)), "alias.lab.test", "A")
        assert answer.status is Status.OK
        assert answer.records == ("127.0.0.10",)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("broken.lab.test", Status.SERVFAIL),
        ("below.broken.lab.test", Status.SERVFAIL),
        ("closed.lab.test", Status.ERROR),
        ("silent.lab.test", Status.TIMEOUT),
    ],
)
async def test_failure_behaviours(name: str, expected: Status) -> None:
    async with DnsServer(_zone()) as server:
        answer = await query(make_resolver(_settings(server, timeout=0.3)), name, "A")
        assert answer.status is expected
        if "closed" in name:
            assert "REFUSED" in answer.message
        # The question is logged even when the server stays silent.
        assert server.log[0][:2] == (name, "A")


async def test_refused_rcode_on_the_wire() -> None:
    async with DnsServer(_zone()) as server:
        request = dns.message.make_query("closed.lab.test", "A")
        response = await dns.asyncquery.udp(request, "127.0.0.1", port=server.port, timeout=2)
        assert response.rcode() == dns.rcode.REFUSED


async def test_ipv6_loopback_server_udp_and_tcp() -> None:
    async with DnsServer(_zone(), host="::1") as server:
        assert server.nameserver == f"[::1]:{server.port}"
        answer = await query(make_resolver(_settings(server)), "mx1.lab.test", "A")
        assert answer.records == ("127.0.0.10",)
        request = dns.message.make_query("mx1.lab.test", "AAAA")
        response = await dns.asyncquery.tcp(request, "::1", port=server.port, timeout=2)
        assert [r.to_text() for r in response.answer[0]] == ["::1"]
        assert [t for _n, _r, t in server.log] == ["udp", "tcp"]


async def test_delay_longer_than_the_timeout_is_a_timeout() -> None:
    async with DnsServer(_zone(), delay=1.0) as server:
        answer = await query(make_resolver(_settings(server, timeout=0.2)), "mx1.lab.test", "A")
        assert answer.status is Status.TIMEOUT


async def test_delayed_answers_still_arrive_over_udp_and_tcp() -> None:
    async with DnsServer(_zone(), delay=(0.01, 0.03), seed=7) as server:
        answer = await query(make_resolver(_settings(server)), "mx1.lab.test", "A")
        assert answer.records == ("127.0.0.10",)
        request = dns.message.make_query("mx1.lab.test", "A")
        response = await dns.asyncquery.tcp(request, "127.0.0.1", port=server.port, timeout=2)
        assert response.rcode() == dns.rcode.NOERROR


def test_delay_draws_from_the_range_and_repeats_with_a_seed() -> None:
    first = DnsServer(Zone(), delay=(0.02, 0.08), seed=42)
    second = DnsServer(Zone(), delay=(0.02, 0.08), seed=42)
    draws = [first.next_delay() for _ in range(50)]
    assert all(0.02 <= d <= 0.08 for d in draws)
    assert draws == [second.next_delay() for _ in range(50)]
    assert DnsServer(Zone()).next_delay() == 0.0


def test_malformed_record_is_rejected_when_added() -> None:
    with pytest.raises(dns.exception.SyntaxError):
        Zone().add("x.lab.test", "A", "not-an-address")


async def test_long_txt_is_split_and_comes_back_whole() -> None:
    reason = "Listed for spam – see https://lab.test/lookup?ip=127.0.0.2 " + "é" * 300
    zone = Zone().add("long.lab.test", "TXT", reason)
    async with DnsServer(zone) as server:
        answer = await query(make_resolver(_settings(server)), "long.lab.test", "TXT")
        assert answer.records == (reason,)


async def test_add_dnsbl_has_rfc5782_entries() -> None:
    zone = Zone().add_dnsbl("bl.lab.test", {"127.0.0.9": ("127.0.0.3", "why")},
                            domains={"bad.example": ("127.0.0.2", None)})
    async with DnsServer(zone) as server:
        resolver = make_resolver(_settings(server))
        assert (await query(resolver, "2.0.0.127.bl.lab.test", "A")).records == ("127.0.0.2",)
        assert (await query(resolver, "1.0.0.127.bl.lab.test", "A")).status is Status.NXDOMAIN
        mapped = "2.0.0.0.0.0.f.7.f.f.f.f" + ".0" * 20 + ".bl.lab.test"
        assert (await query(resolver, mapped, "A")).records == ("127.0.0.2",)
        assert (await query(resolver, "9.0.0.127.bl.lab.test", "TXT")).records == ("why",)
        assert (await query(resolver, "test.bl.lab.test", "A")).status is Status.OK
        assert (await query(resolver, "invalid.bl.lab.test", "A")).status is Status.NXDOMAIN
        assert (await query(resolver, "bad.example.bl.lab.test", "A")).records == ("127.0.0.2",)
