"""The whois (RDAP) probe and `mxscope whois`, against the lab DNS (Team Cymru TXT) and the lab
RDAP server on loopback. The addresses looked up (8.8.8.8, 193.0.6.139 …) are only keys: every
packet goes to the lab servers on 127.0.0.1 / ::1, which the conftest guard enforces."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from tui.cli import main
from tui.config import Settings
from tui.lab.dns import DnsServer, Zone
from tui.lab.rdap import (
    LabEntity,
    LabNetwork,
    RdapServer,
    abuse_contact,
    cymru_origin_name,
    sample_networks,
)
from tui.lab.runner import LabThread
from tui.probes import whois
from tui.probes.base import Status, to_jsonable
from tui.probes.target import parse_target
from tui.probes.whois import WhoisCache, parse_rdap_server, special_range

KEYS = ("8.8.8.8", "193.0.6.139", "2001:67c:2e8:22::c100:68b", "203.119.1.1", "200.3.13.1",
        "196.216.2.5")


@dataclass
class Lab:
    zone: Zone
    dns: DnsServer
    rdap: RdapServer

    def settings(self, **changes: object) -> Settings:
        base = Settings(nameservers=(self.dns.nameserver,), rdap_server=self.rdap.url,
                        timeout=2.0, dns_timeout=2.0)
        return base.replace(**changes)


def _zone() -> Zone:
    zone = Zone()
    zone.add_host("mail.lab.test", "193.0.6.139", "2001:67c:2e8:22::c100:68b")
    zone.add_host("v6only.lab.test", "2001:67c:2e8:22::c100:68b")
    zone.add_host("intranet.lab.test", "10.20.30.40")
    return zone


@pytest.fixture
async def lab():
    zone = _zone()
    async with DnsServer(zone) as dns, RdapServer(sample_networks()) as rdap:
        rdap.add_cymru(zone, *KEYS)
        yield Lab(zone, dns, rdap)


@pytest.fixture(autouse=True)
def fresh_default_cache():
    # The CLI uses the module cache; keep tests independent of each other.
    whois.DEFAULT_CACHE.clear()
    yield
    whois.DEFAULT_CACHE.clear()


async def lookup(lab: Lab, text: str, **changes: object) -> whois.WhoisResult:
    return await whois.run(parse_target(text), lab.settings(**changes), cache=WhoisCache())


# -- registered networks -----------------------------------------------------------------------


async def test_arin_network_with_nested_contacts(lab: Lab) -> None:
    r = await lookup(lab, "8.8.8.8")
    assert r.status is Status.OK, r.message
    assert (r.asn, r.asn_prefix, r.asn_country, r.asn_registry) == ("15169", "8.8.8.0/24", "US", "arin")
    assert r.asn_description == "LAB-GLOBAL, US"
    assert r.network_name == "LAB-GLOBAL"
    assert r.network_handle == "NET-8-8-8-0-LAB"
    assert (r.network_start, r.network_end) == ("8.8.8.0", "8.8.8.255")
    assert r.network_range == "8.8.8.0 - 8.8.8.255"
    assert r.network_cidrs == ("8.8.8.0/24",)
    assert r.parent_handle == "NET-8-0-0-0-LAB"
    assert (r.org_name, r.org_handle) == ("Lab Global Networks LLC", "LABG-ARIN")
    assert r.country == "US" and r.rir == "arin"
    assert r.rdap_url == "https://rdap.arin.net/registry/ip/8.8.8.8"
    # The abuse contact is nested under the org: found without extra requests.
    assert r.abuse_emails == ("network-abuse@lab-global.example",)
    roles = {e.role: e.emails for e in r.role_emails}
    assert roles == {"abuse": ("network-abuse@lab-global.example",),
                     "technical": ("noc@lab-global.example",),
                     "noc": ("noc@lab-global.example",)}
    assert r.role_emails[0].role == "abuse"
    assert r.requests == 1 and not r.cached
    assert lab.rdap.log == [("rdap.arin.net", "/registry/ip/8.8.8.8")]
    asked = [name for name, _t, _tr in lab.dns.log]
    assert asked == ["8.8.8.8.origin.asn.cymru.com", "as15169.asn.cymru.com"]
    assert "LAB-GLOBAL" in r.message and "AS15169" in r.message


async def test_ripe_network_fetches_listed_entity(lab: Lab) -> None:
    r = await lookup(lab, "193.0.6.139")
    assert r.status is Status.OK, r.message
    assert r.rir == "ripencc" and r.asn == "3333"
    assert r.org_name == "Lab Network Coordination Centre"
    assert r.abuse_emails == ("abuse@lab-ncc.example",)
    roles = {e.role: e.emails for e in r.role_emails}
    # ops@ only exists in the entity reply: proves the /entity/ fetch was used.
    assert roles["administrative"] == ("ops@lab-ncc.example",)
    assert lab.rdap.log == [("rdap.db.ripe.net", "/ip/193.0.6.139"),
                            ("rdap.db.ripe.net", "/entity/LAB1-RIPE")]
    assert r.requests == 2


async def test_ipv6(lab: Lab) -> None:
    r = await lookup(lab, "2001:67c:2e8:22::c100:68b")
    assert r.status is Status.OK, r.message
    assert r.ip == "2001:67c:2e8:22::c100:68b"
    assert r.network_cidrs == ("2001:67c:2e8::/48",)
    assert r.asn_prefix == "2001:67c:2e8::/48"
    assert r.abuse_emails == ("abuse@lab-ncc.example",)
    assert lab.dns.log[0][0] == cymru_origin_name("2001:67c:2e8:22::c100:68b")
    assert lab.rdap.log[0] == ("rdap.db.ripe.net", "/ip/2001:67c:2e8:22::c100:68b")


@pytest.mark.parametrize(
    ("ip", "rir", "host", "abuse"),
    [("203.119.1.1", "apnic", "rdap.apnic.net", "abuse@lab-apac.example"),
     ("200.3.13.1", "lacnic", "rdap.lacnic.net", "abuse@lab-latam.example"),
     ("196.216.2.5", "afrinic", "rdap.afrinic.net", "abuse@lab-africa.example")],
)
async def test_other_rirs(lab: Lab, ip: str, rir: str, host: str, abuse: str) -> None:
    r = await lookup(lab, ip)
    assert r.status is Status.OK, r.message
    assert r.rir == r.asn_registry == rir
    assert r.abuse_emails == (abuse,)
    assert [h for h, _p in lab.rdap.log] == [host]


async def test_json_keys_are_stable(lab: Lab) -> None:
    doc = to_jsonable(await lookup(lab, "8.8.8.8"))
    assert list(doc) == [
        "target", "status", "message", "ip", "hostname", "special_range", "asn", "asn_prefix",
        "asn_country", "asn_registry", "asn_description", "asn_date", "network_name",
        "network_handle", "network_start", "network_end", "network_cidrs", "network_type",
        "parent_handle", "org_name", "org_handle", "country", "rir", "rdap_url",
        "abuse_emails", "role_emails", "contacts", "requests", "cached", "elapsed_ms",
    ]
    assert doc["role_emails"][0] == {"role": "abuse",
                                     "emails": ["network-abuse@lab-global.example"]}
    assert "raw" not in json.dumps(doc)
    json.dumps(doc)


# -- failures ----------------------------------------------------------------------------------


async def test_unknown_address_is_noanswer(lab: Lab) -> None:
    # Cymru says ARIN, but ARIN has no such network.
    lab.zone.add(cymru_origin_name("9.9.9.9"), "TXT", "19281 | 9.9.9.0/24 | US | arin | 2017-09-13")
    r = await lookup(lab, "9.9.9.9")
    assert r.status is Status.NOANSWER
    assert "HTTP 404" in r.message and "rdap.arin.net" in r.message
    assert r.asn is None
    assert lab.rdap.log == [("rdap.arin.net", "/registry/ip/9.9.9.9")]


async def test_rate_limited(lab: Lab) -> None:
    lab.rdap.fail("rate_limit", "193.0.0.0/21")
    r = await lookup(lab, "193.0.6.139")
    assert r.status is Status.ERROR
    assert "rate limited" in r.message and "retry later" in r.message
    assert "Retry-After: 60" in r.message
    assert len(lab.rdap.log) == 1  # no retry, no sleeping in ipwhois


async def test_server_error(lab: Lab) -> None:
    lab.rdap.fail("server_error")
    r = await lookup(lab, "8.8.8.8")
    assert r.status is Status.ERROR
    assert "HTTP 500" in r.message and "rdap.arin.net" in r.message


async def test_slow_server_times_out(lab: Lab) -> None:
    lab.rdap.slow_seconds = 30.0
    lab.rdap.fail("slow", "8.8.8.0/24")
    r = await lookup(lab, "8.8.8.8", timeout=0.3)
    assert r.status is Status.TIMEOUT
    assert "rdap.arin.net" in r.message
    assert lab.rdap.log == [("rdap.arin.net", "/registry/ip/8.8.8.8")]


async def test_malformed_json(lab: Lab) -> None:
    lab.rdap.fail("malformed")
    r = await lookup(lab, "8.8.8.8")
    assert r.status is Status.ERROR
    assert "malformed" in r.message and "not valid JSON" in r.message


async def test_oversized_reply_is_cut_off(lab: Lab) -> None:
    lab.rdap.fail("oversized")  # 3 MiB > the probe's 2 MiB bound
    r = await lookup(lab, "8.8.8.8")
    assert r.status is Status.ERROR
    assert "too large" in r.message


async def test_rdap_server_refusing(lab: Lab) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    r = await lookup(lab, "8.8.8.8", rdap_server=f"http://127.0.0.1:{closed_port}")
    assert r.status is Status.REFUSED
    assert "refused" in r.message


async def test_asn_dns_failure_falls_back_to_bootstrap(lab: Lab) -> None:
    lab.zone.behave("origin.asn.cymru.com", "servfail")
    r = await lookup(lab, "193.0.6.139")
    assert r.status is Status.OK, r.message
    assert r.asn is None and r.asn_registry is None
    assert r.rir == "ripencc"  # from the RDAP service that answered
    assert r.org_name == "Lab Network Coordination Centre"
    assert r.abuse_emails == ("abuse@lab-ncc.example",)
    assert "DNS server failure" in r.message and "bootstrap" in r.message
    assert lab.rdap.log[:2] == [("rdap-bootstrap.arin.net", "/bootstrap/ip/193.0.6.139"),
                                ("rdap.db.ripe.net", "/ip/193.0.6.139")]


async def test_asn_dns_timeout_is_named(lab: Lab) -> None:
    lab.zone.behave("origin.asn.cymru.com", "timeout")
    r = await lookup(lab, "8.8.8.8", dns_timeout=0.3)
    assert r.status is Status.OK, r.message
    assert r.asn is None and r.network_handle == "NET-8-8-8-0-LAB"
    assert "timed out" in r.message


async def test_entity_fetches_are_bounded() -> None:
    # A registry listing a hundred contacts by handle only must not cost a hundred requests.
    many = tuple(LabEntity(f"P{i}-RIPE", f"Person {i}", ("technical",), kind="individual",
                           emails=(f"p{i}@lab.example",), inline=False) for i in range(100))
    net = LabNetwork("193.0.0.0/21", "ripencc", "NET-MANY", "MANY", asn=3333, entities=many)
    zone = Zone()
    async with DnsServer(zone) as dns, RdapServer([net]) as rdap:
        rdap.add_cymru(zone, "193.0.6.139")
        settings = Settings(nameservers=(dns.nameserver,), rdap_server=rdap.url)
        r = await whois.run(parse_target("193.0.6.139"), settings, cache=WhoisCache())
    assert r.status is Status.OK, r.message
    assert len(rdap.log) == whois.MAX_REQUESTS == r.requests
    assert 0 < len(r.role_emails[0].emails) < 100


async def test_no_asn_and_no_registration(lab: Lab) -> None:
    r = await lookup(lab, "9.9.9.9")  # neither Cymru nor any RIR knows it
    assert r.status is Status.NOANSWER
    assert "no Team Cymru ASN record" in r.message and "HTTP 404" in r.message


async def test_hostile_registry_text_is_sanitised() -> None:
    evil = LabNetwork(
        "8.8.8.0/24", "arin", "NET-EVIL", "EVIL\x1b[2J\x1b[31mNET", country="US",
        asn=666, asn_name="EVIL\x07, US",
        entities=(LabEntity("ORG-EVIL", "Evil\r\nInjected: yes", ("registrant",),
                            entities=(abuse_contact("AB-EVIL", "abuse@evil.example"),
                                      abuse_contact("AB-BAD", "not an email\x1b[0m"))),),
    )
    zone = Zone()
    async with DnsServer(zone) as dns, RdapServer([evil]) as rdap:
        rdap.add_cymru(zone, "8.8.8.8")
        settings = Settings(nameservers=(dns.nameserver,), rdap_server=rdap.url)
        r = await whois.run(parse_target("8.8.8.8"), settings, cache=WhoisCache())
    assert r.status is Status.OK, r.message
    text = json.dumps(to_jsonable(r), ensure_ascii=False)
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert r.network_name == "EVIL [2J [31mNET"
    assert r.abuse_emails == ("abuse@evil.example",)


async def test_direct_transport_records_status(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without rdap_server the opener talks to the URL's own host (here the lab by its IP, so
    the lab sees an unknown Host and answers 404); its handlers still record and bound."""
    import asyncio
    import time
    import urllib.error

    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    state = whois._LookupState(deadline=time.monotonic() + 5, timeout=2.0)
    opener = whois._build_opener(state, None)
    url = f"{lab.rdap.url}/registry/ip/8.8.8.8"
    with pytest.raises(urllib.error.HTTPError) as info:
        await asyncio.to_thread(opener.open, url, None, 2.0)
    assert info.value.code == 404
    assert json.loads(info.value.read())["errorCode"] == 404
    assert [(e.status, e.problem) for e in state.exchanges] == [(404, None)]
    assert lab.rdap.log == [(lab.rdap.host, "/registry/ip/8.8.8.8")]
    with pytest.raises(urllib.error.URLError):  # no file: handler, even if asked directly
        await asyncio.to_thread(opener.open, "file:///etc/passwd", None, 2.0)


@pytest.mark.parametrize(
    ("body", "words"),
    [({"objectClassName": "ip network", "handle": "H", "ipVersion": "v4",
       "startAddress": "8.8.8.0", "endAddress": "8.8.8.255", "entities": ["not", "objects"]},
      "malformed RDAP reply"),
     ({"objectClassName": "ip network", "name": "no handle"}, "not usable"),
     ([1, 2, 3], "JSON but not an object")],
)
async def test_wrongly_shaped_replies_are_errors(lab: Lab, body: object, words: str) -> None:
    lab.rdap.respond("rdap.arin.net", "/registry/ip/8.8.8.8", body)  # type: ignore[arg-type]
    r = await lookup(lab, "8.8.8.8")
    assert r.status is Status.ERROR
    assert words in r.message


async def test_bad_rdap_server_setting_sends_nothing(lab: Lab) -> None:
    r = await lookup(lab, "8.8.8.8", rdap_server="ftp://127.0.0.1/")
    assert r.status is Status.ERROR and "http://" in r.message
    assert lab.rdap.log == [] and lab.dns.log == []


@pytest.mark.parametrize(
    "url", ["gopher://x", "http://", "http://u:p@127.0.0.1", "http://127.0.0.1:99999",
            "http://127.0.0.1/?q=1", "http://127.0.0.1/\r\nX: y"],
)
def test_parse_rdap_server_rejects(url: str) -> None:
    with pytest.raises(ValueError):
        parse_rdap_server(url)


def test_parse_rdap_server_accepts() -> None:
    base = parse_rdap_server("http://[::1]:8080/mirror/")
    assert (base.scheme, base.host, base.port, base.path) == ("http", "::1", 8080, "/mirror")
    assert parse_rdap_server("https://rdap.example").port == 443


async def test_base_url_path_prefix_and_ipv6_lab() -> None:
    zone = Zone()
    async with DnsServer(zone, host="::1") as dns, RdapServer(sample_networks(), host="::1") as rdap:
        rdap.add_cymru(zone, "8.8.8.8")
        settings = Settings(nameservers=(dns.nameserver,), rdap_server=rdap.url + "/prefix")
        r = await whois.run(parse_target("8.8.8.8"), settings, cache=WhoisCache())
    # The lab routes by Host + path, so a prefix it does not know is a 404: proves it was sent.
    assert r.status is Status.NOANSWER
    assert rdap.log == [("rdap.arin.net", "/prefix/registry/ip/8.8.8.8")]


# -- answered locally --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "rfc", "words"),
    [("10.1.2.3", "RFC 1918", "private"), ("172.20.0.1", "RFC 1918", "private"),
     ("192.168.1.1", "RFC 1918", "private"), ("100.64.1.1", "RFC 6598", "carrier-grade NAT"),
     ("127.0.0.1", "RFC 1122", "loopback"), ("169.254.10.1", "RFC 3927", "link-local"),
     ("192.0.2.25", "RFC 5737", "documentation"), ("203.0.113.9", "RFC 5737", "documentation"),
     ("198.18.0.1", "RFC 2544", "benchmarking"), ("224.0.0.251", "RFC 5771", "multicast"),
     ("255.255.255.255", "RFC 919", "broadcast"), ("0.1.2.3", "RFC 1122", "this network"),
     ("::1", "RFC 4291", "loopback"), ("fe80::1", "RFC 4291", "link-local"),
     ("fd00::25", "RFC 4193", "unique local"), ("2001:db8::25", "RFC 3849", "documentation"),
     ("ff02::1", "RFC 4291", "multicast"), ("::ffff:10.0.0.1", "RFC 1918", "private"),
     ("4000::1", "RFC 4291", "reserved")],
)
async def test_special_addresses_are_answered_locally(
    lab: Lab, ip: str, rfc: str, words: str
) -> None:
    r = await lookup(lab, ip)
    assert r.status is Status.OK
    assert rfc in r.message and words in r.message
    assert "no public registration" in r.message
    assert r.special_range
    assert r.asn is None and r.requests == 0
    assert lab.rdap.log == [] and lab.dns.log == []


def test_special_range_leaves_public_addresses_alone() -> None:
    import ipaddress

    for ip in ("8.8.8.8", "193.0.6.139", "2001:67c:2e8::1", "2a00:1450::1"):
        assert special_range(ipaddress.ip_address(ip)) is None
    assert special_range(ipaddress.ip_address("100.64.0.1"))[0] == "100.64.0.0/10"  # type: ignore[index]


async def test_ipv4_mapped_public_address_is_looked_up_as_ipv4(lab: Lab) -> None:
    r = await lookup(lab, "::ffff:8.8.8.8")
    assert r.status is Status.OK
    assert r.ip == "8.8.8.8" and r.target == "::ffff:808:808"
    assert "IPv4-mapped" in r.message
    assert lab.rdap.log == [("rdap.arin.net", "/registry/ip/8.8.8.8")]


# -- host names --------------------------------------------------------------------------------


async def test_hostname_uses_first_address(lab: Lab) -> None:
    r = await lookup(lab, "mail.lab.test")
    assert r.status is Status.OK, r.message
    assert (r.target, r.hostname, r.ip) == ("mail.lab.test", "mail.lab.test", "193.0.6.139")
    assert "mail.lab.test resolved to 193.0.6.139 (A)" in r.message
    assert lab.rdap.log[0] == ("rdap.db.ripe.net", "/ip/193.0.6.139")


async def test_hostname_with_only_aaaa(lab: Lab) -> None:
    r = await lookup(lab, "v6only.lab.test")
    assert r.status is Status.OK, r.message
    assert r.ip == "2001:67c:2e8:22::c100:68b"
    assert "(AAAA)" in r.message


async def test_hostname_resolving_to_private_address(lab: Lab) -> None:
    r = await lookup(lab, "intranet.lab.test")
    assert r.status is Status.OK
    assert r.ip == "10.20.30.40" and "RFC 1918" in r.message
    assert lab.rdap.log == []


async def test_hostname_that_does_not_exist(lab: Lab) -> None:
    r = await lookup(lab, "nope.lab.test")
    assert r.status is Status.NXDOMAIN
    assert r.ip is None and "NXDOMAIN" in r.message
    assert lab.rdap.log == []


# -- cache -------------------------------------------------------------------------------------


async def test_second_lookup_is_served_from_cache(lab: Lab) -> None:
    cache = WhoisCache()
    first = await whois.run(parse_target("193.0.6.139"), lab.settings(), cache=cache)
    sent_http, sent_dns = len(lab.rdap.log), len(lab.dns.log)
    assert not first.cached and sent_http == 2
    second = await whois.run(parse_target("193.0.6.139"), lab.settings(), cache=cache)
    assert second.cached and second.requests == 0
    assert second.abuse_emails == first.abuse_emails and second.asn == first.asn
    assert len(lab.rdap.log) == sent_http and len(lab.dns.log) == sent_dns
    # A host name resolving to the cached address reuses it too (only DNS for the name).
    third = await whois.run(parse_target("mail.lab.test"), lab.settings(), cache=cache)
    assert third.cached and third.hostname == "mail.lab.test"
    assert len(lab.rdap.log) == sent_http
    # Another RDAP server is another key.
    fourth = await whois.run(parse_target("193.0.6.139"),
                             lab.settings(rdap_server=lab.rdap.url + "/"), cache=cache)
    assert not fourth.cached and len(lab.rdap.log) > sent_http


async def test_failures_are_not_cached(lab: Lab) -> None:
    cache = WhoisCache()
    lab.rdap.fail("rate_limit")
    first = await whois.run(parse_target("8.8.8.8"), lab.settings(), cache=cache)
    assert first.status is Status.ERROR and len(cache) == 0
    lab.rdap.fail(None)
    second = await whois.run(parse_target("8.8.8.8"), lab.settings(), cache=cache)
    assert second.status is Status.OK and not second.cached
    assert len(lab.rdap.log) == 2


def test_cache_is_bounded_and_expires() -> None:
    cache = WhoisCache(maxsize=2)
    results = [whois.WhoisResult(f"192.0.2.{i}", Status.OK, "") for i in range(3)]
    keys = [(r.target, None, ()) for r in results]
    for key, result in zip(keys, results, strict=True):
        cache.put(key, result)
    assert len(cache) == 2
    assert cache.get(keys[0]) is None and cache.get(keys[2]) is results[2]
    expired = WhoisCache(ttl=0.0)
    expired.put(keys[0], results[0])
    assert expired.get(keys[0]) is None


# -- CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def thread_lab():
    zone = _zone()
    with LabThread() as lt:
        dns = lt.start(DnsServer(zone))
        rdap = lt.start(RdapServer(sample_networks()))
        rdap.add_cymru(zone, *KEYS)
        yield Lab(zone, dns, rdap)


def cli(lab: Lab, *args: str) -> tuple[int, str, str]:
    # Lab options first: a test's own --rdap-server then wins (click keeps the last value).
    result = CliRunner().invoke(
        main, ["whois", "--nameserver", lab.dns.nameserver, "--rdap-server", lab.rdap.url, *args]
    )
    return result.exit_code, result.stdout, result.stderr


def test_cli_text(thread_lab: Lab) -> None:
    code, out, _err = cli(thread_lab, "8.8.8.8")
    assert code == 0, out
    assert "AS15169" in out and "LAB-GLOBAL, US" in out
    assert "Lab Global Networks LLC" in out
    assert "8.8.8.0 - 8.8.8.255" in out
    assert "country" in out and "US" in out
    assert "abuse" in out and "network-abuse@lab-global.example" in out
    assert "ARIN" in out


def test_cli_json(thread_lab: Lab) -> None:
    code, out, _err = cli(thread_lab, "mail.lab.test", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["status"] == "ok" and doc["ip"] == "193.0.6.139"
    assert doc["hostname"] == "mail.lab.test"
    assert doc["abuse_emails"] == ["abuse@lab-ncc.example"]
    assert doc["rir"] == "ripencc" and doc["asn"] == "3333"


def test_cli_failure_exits_1(thread_lab: Lab) -> None:
    thread_lab.rdap.fail("server_error")
    code, out, _err = cli(thread_lab, "8.8.8.8", "--json")
    assert code == 1
    assert json.loads(out)["status"] == "error"


def test_cli_private_address_exits_0_without_traffic(thread_lab: Lab) -> None:
    code, out, _err = cli(thread_lab, "192.168.0.10")
    assert code == 0
    assert "RFC 1918" in out
    assert thread_lab.rdap.log == [] and thread_lab.dns.log == []


@pytest.mark.parametrize(
    "args",
    [["bad host!"], ["a..example"], ["999.1.2.3"], ["8.8.8.8", "--rdap-server", "ftp://127.0.0.1"],
     ["8.8.8.8", "--nameserver", "not-an-ip"], ["8.8.8.8", "--timeout", "0"]],
)
def test_cli_bad_input_exits_2_and_sends_nothing(thread_lab: Lab, args: list[str]) -> None:
    code, out, err = cli(thread_lab, *args)
    assert code == 2, out
    assert "error" in err.lower()
    assert thread_lab.rdap.log == [] and thread_lab.dns.log == []
