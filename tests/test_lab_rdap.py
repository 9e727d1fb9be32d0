"""The lab RDAP server: real HTTP/1.1 on loopback, routed by Host + path like the five RIRs,
RFC 9083 JSON that ipwhois parses, failure modes, and the Team Cymru DNS helper."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket

import pytest
from ipwhois.asn import IPASN
from ipwhois.net import Net
from ipwhois.rdap import BOOTSTRAP_URL, RDAP, RIR_RDAP

from tui.lab.dns import Zone
from tui.lab.rdap import (
    BOOTSTRAP_BASE,
    BOOTSTRAP_HOST,
    RIRS,
    LabEntity,
    LabNetwork,
    RdapServer,
    abuse_contact,
    add_cymru_records,
    cymru_asn_txt,
    cymru_origin_name,
    cymru_origin_txt,
    entity_url,
    ip_url,
    network_json,
    sample_networks,
)
from tui.lab.runner import LabThread


def _get(
    srv: RdapServer, host: str, path: str, *, method: str = "GET",
    headers: dict[str, str] | None = None, timeout: float = 5.0,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


async def get(srv: RdapServer, host: str, path: str, **kw: object) -> tuple[int, dict, bytes]:
    # http.client blocks; the server lives on this loop, so the client runs in a thread.
    return await asyncio.to_thread(_get, srv, host, path, **kw)  # type: ignore[arg-type]


# -- the tables agree with ipwhois ------------------------------------------------------------


def test_endpoints_match_ipwhois() -> None:
    assert set(RIRS) == set(RIR_RDAP)
    for rir, urls in RIR_RDAP.items():
        assert ip_url(rir, "{0}") == urls["ip_url"]
        assert entity_url(rir, "{0}") == urls["entity_url"]
    assert f"https://{BOOTSTRAP_HOST}{BOOTSTRAP_BASE}" == BOOTSTRAP_URL


@pytest.mark.parametrize(
    "ip", ["8.8.8.8", "193.0.6.139", "2001:67c:2e8:22::c100:68b", "2001:67c:2e8::",
           "2a00:1450:4001:80b::200e"],
)
def test_cymru_names_match_what_ipwhois_asks(ip: str) -> None:
    assert cymru_origin_name(ip) + "." == Net(ip).dns_zone


def test_cymru_txt_parses_with_ipwhois() -> None:
    net = sample_networks()[1]
    parser = IPASN(Net("193.0.6.139"))
    origin = parser.parse_fields_dns(cymru_origin_txt(net))
    assert origin["asn"] == "3333"
    assert origin["asn_cidr"] == "193.0.0.0/21"
    assert origin["asn_registry"] == "ripencc"
    assert origin["asn_country_code"] == "NL"
    verbose = parser.parse_fields_verbose_dns(cymru_asn_txt(net))
    assert verbose["asn_description"] == "LAB-NCC-AS Lab Network Coordination Centre, NL"


def test_add_cymru_records_names_only_covered_addresses() -> None:
    zone = Zone()
    add_cymru_records(zone, sample_networks(), "8.8.8.8", "8.8.4.4", "2001:67c:2e8::1")
    assert (cymru_origin_name("8.8.8.8"), "TXT") in zone.records
    assert (cymru_origin_name("8.8.4.4"), "TXT") not in zone.records  # no lab network
    assert (cymru_origin_name("2001:67c:2e8::1"), "TXT") in zone.records
    assert zone.records[("as15169.asn.cymru.com", "TXT")] == ['"15169 | US | arin | 2009-03-18 | LAB-GLOBAL, US"']


def test_network_json_is_what_ipwhois_parses() -> None:
    net = sample_networks()[0]
    doc = network_json(net)
    assert doc["objectClassName"] == "ip network"
    assert doc["rdapConformance"][0] == "rdap_level_0"
    assert {e["eventAction"] for e in doc["events"]} == {"registration", "last changed"}
    # Parse offline: ipwhois is given the response, so no request is made.
    parsed = RDAP(Net("8.8.8.8")).lookup(response=doc, asn_data={"asn_registry": "arin"})
    assert parsed["network"]["handle"] == "NET-8-8-8-0-LAB"
    assert parsed["network"]["cidr"] == "8.8.8.0/24"
    assert parsed["network"]["country"] == "US"
    org = parsed["objects"]["LABG-ARIN"]
    assert org["contact"]["name"] == "Lab Global Networks LLC"
    assert org["roles"] == ["registrant"]
    assert org["entities"] == ["ABUSE-LAB-ARIN", "NOC-LAB-ARIN"]


def test_bad_network_definitions_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown RIR"):
        LabNetwork("8.8.8.0/24", "iana", "H", "N")
    with pytest.raises(ValueError):
        LabNetwork("8.8.8.0/33", "arin", "H", "N")
    with pytest.raises(ValueError, match="failure"):
        RdapServer().fail("explode")  # type: ignore[arg-type]


# -- over the wire -----------------------------------------------------------------------------


@pytest.fixture
async def srv():
    async with RdapServer(sample_networks(), slow_seconds=30.0) as server:
        yield server


@pytest.mark.parametrize(
    ("rir", "ip", "handle"),
    [("arin", "8.8.8.8", "NET-8-8-8-0-LAB"), ("ripencc", "193.0.6.139", "193.0.0.0 - 193.0.7.255"),
     ("apnic", "203.119.1.1", "203.119.0.0 - 203.119.255.255"),
     ("lacnic", "200.3.13.1", "200.3.12.0/22"), ("afrinic", "196.216.3.1", "NET-196-216-2-0-LAB"),
     ("ripencc", "2001:67c:2e8:22::c100:68b", "2001:67c:2e8::/48")],
)
async def test_routes_by_host_and_path(srv: RdapServer, rir: str, ip: str, handle: str) -> None:
    host, base = RIRS[rir].host, RIRS[rir].base
    status, headers, body = await get(srv, host, f"{base}/ip/{ip}")
    assert status == 200
    assert headers["content-type"] == "application/rdap+json"
    doc = json.loads(body)
    assert doc["objectClassName"] == "ip network"
    assert doc["handle"] == handle
    assert doc["port43"] == RIRS[rir].port43
    assert srv.log == [(host, f"{base}/ip/{ip}")]


async def test_wrong_rir_or_unknown_host_is_404(srv: RdapServer) -> None:
    # ARIN's path on RIPE's host, and RIPE's host asked for ARIN space.
    status, _h, _b = await get(srv, "rdap.db.ripe.net", "/registry/ip/8.8.8.8")
    assert status == 404
    status, _h, body = await get(srv, "rdap.db.ripe.net", "/ip/8.8.8.8")
    assert status == 404
    status, _h, body = await get(srv, "rdap.example.net", "/ip/8.8.8.8")
    assert status == 404
    assert "no RDAP service" in json.loads(body)["description"][0]


async def test_unknown_address_is_404_with_rdap_error(srv: RdapServer) -> None:
    status, headers, body = await get(srv, "rdap.arin.net", "/registry/ip/9.9.9.9")
    assert status == 404
    assert headers["content-type"] == "application/rdap+json"
    doc = json.loads(body)
    assert doc["errorCode"] == 404
    assert doc["title"] == "Not Found"
    assert "9.9.9.9" in doc["description"][0]


async def test_prefix_query_and_most_specific_network() -> None:
    nets = [
        LabNetwork("8.0.0.0/9", "arin", "NET-8-0-0-0-1", "LVLT-ORG-8-8"),
        LabNetwork("8.8.8.0/24", "arin", "NET-8-8-8-0-1", "GOGL"),
    ]
    async with RdapServer(nets) as server:
        _s, _h, body = await get(server, "rdap.arin.net", "/registry/ip/8.8.8.8")
        assert json.loads(body)["handle"] == "NET-8-8-8-0-1"
        _s, _h, body = await get(server, "rdap.arin.net", "/registry/ip/8.8.0.0/16")
        assert json.loads(body)["handle"] == "NET-8-0-0-0-1"


async def test_entity_endpoint(srv: RdapServer) -> None:
    status, _h, body = await get(srv, "rdap.db.ripe.net", "/entity/LAB1-RIPE")
    assert status == 200
    doc = json.loads(body)
    assert doc["objectClassName"] == "entity"
    assert doc["vcardArray"][0] == "vcard"
    emails = [p[3] for p in doc["vcardArray"][1] if p[0] == "email"]
    assert emails == ["ops@lab-ncc.example"]
    # In the network reply the same entity is only a handle with roles.
    _s, _h, body = await get(srv, "rdap.db.ripe.net", "/ip/193.0.6.139")
    listed = {e["handle"]: e for e in json.loads(body)["entities"]}
    assert "vcardArray" not in listed["LAB1-RIPE"]
    assert listed["AR-LAB-RIPE"]["roles"] == ["abuse"]
    status, _h, _b = await get(srv, "rdap.arin.net", "/registry/entity/LAB1-RIPE")
    assert status == 404


async def test_bootstrap_redirects_to_the_rir(srv: RdapServer) -> None:
    status, headers, _b = await get(srv, BOOTSTRAP_HOST, "/bootstrap/ip/193.0.6.139")
    assert status == 302
    assert headers["location"] == "https://rdap.db.ripe.net/ip/193.0.6.139"
    status, headers, _b = await get(srv, BOOTSTRAP_HOST, "/bootstrap/entity/LABG-ARIN")
    assert status == 302
    assert headers["location"] == "https://rdap.arin.net/registry/entity/LABG-ARIN"
    status, _h, _b = await get(srv, BOOTSTRAP_HOST, "/bootstrap/ip/9.9.9.9")
    assert status == 404


async def test_bad_requests(srv: RdapServer) -> None:
    status, _h, body = await get(srv, "rdap.arin.net", "/registry/ip/not-an-ip")
    assert status == 400 and json.loads(body)["errorCode"] == 400
    status, headers, _b = await get(srv, "rdap.arin.net", "/registry/ip/8.8.8.8", method="POST")
    assert status == 405 and headers["allow"] == "GET"
    status, _h, _b = await get(srv, "rdap.arin.net", "/registry/ip/8.8.8.8",
                               headers={"X-Filler": "a" * 20000})
    assert status == 431


async def test_request_head_is_bounded_in_total() -> None:
    async with RdapServer(sample_networks(), max_request_bytes=2048) as server:
        many = {f"X-H{i}": "b" * 100 for i in range(40)}  # each line short, the head not
        status, _h, _b = await get(server, "rdap.arin.net", "/registry/ip/8.8.8.8", headers=many)
        assert status == 431
        assert server.log == []


async def test_silent_client_is_dropped() -> None:
    async with RdapServer(sample_networks(), read_timeout=0.2) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"GET /registry/ip/8.8.8.8 HTTP/1.1\r\n")  # never finishes the head
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 5)  # hang guard only
        assert data == b""  # closed without an answer
        writer.close()
        assert server.log == []


@pytest.mark.parametrize(
    ("mode", "status"), [("rate_limit", 429), ("server_error", 500)],
)
async def test_failure_modes_global(srv: RdapServer, mode: str, status: int) -> None:
    srv.fail(mode)  # type: ignore[arg-type]
    got, headers, body = await get(srv, "rdap.arin.net", "/registry/ip/8.8.8.8")
    assert got == status
    assert json.loads(body)["errorCode"] == status
    if mode == "rate_limit":
        assert headers["retry-after"] == "60"
    srv.fail(None)
    got, _h, _b = await get(srv, "rdap.arin.net", "/registry/ip/8.8.8.8")
    assert got == 200


async def test_failure_mode_per_network(srv: RdapServer) -> None:
    srv.fail("malformed", "193.0.0.0/21")
    status, _h, body = await get(srv, "rdap.db.ripe.net", "/ip/193.0.6.139")
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(body)
    status, _h, body = await get(srv, "rdap.arin.net", "/registry/ip/8.8.8.8")
    assert status == 200 and json.loads(body)["handle"] == "NET-8-8-8-0-LAB"


async def test_failure_mode_on_the_network_definition() -> None:
    net = LabNetwork("8.8.8.0/24", "arin", "NET-X", "X", failure="server_error")
    async with RdapServer([net]) as server:
        status, _h, _b = await get(server, "rdap.arin.net", "/registry/ip/8.8.8.8")
        assert status == 500


async def test_oversized_mode(srv: RdapServer) -> None:
    srv.oversized_bytes = 100_000
    srv.fail("oversized")
    status, headers, body = await get(srv, "rdap.arin.net", "/registry/ip/8.8.8.8")
    assert status == 200
    assert len(body) == int(headers["content-length"]) > 100_000


async def test_slow_mode_outlasts_the_client_and_stop_does_not_wait() -> None:
    server = RdapServer(sample_networks(), failure="slow", slow_seconds=30.0)
    await server.start()
    try:
        with pytest.raises((TimeoutError, socket.timeout)):
            await get(server, "rdap.arin.net", "/registry/ip/8.8.8.8", timeout=0.3)
        assert server.log == [("rdap.arin.net", "/registry/ip/8.8.8.8")]
    finally:
        await asyncio.wait_for(server.stop(), 5)  # the sleeping answer is cancelled


def test_runs_in_a_lab_thread() -> None:
    with LabThread() as lab:
        server = lab.start(RdapServer([
            LabNetwork("2001:db8:100::/48", "apnic", "LAB-V6", "LAB-V6-NET", country="JP",
                       entities=(LabEntity("ORG-X", "X KK", ("registrant",),
                                           entities=(abuse_contact("IRT-X", "abuse@x.example"),)),)),
        ]))
        status, _h, body = _get(server, "rdap.apnic.net", "/ip/2001:db8:100::25")
        assert status == 200
        doc = json.loads(body)
        assert doc["ipVersion"] == "v6"
        assert doc["startAddress"] == "2001:db8:100::"
        assert doc["endAddress"] == "2001:db8:100:ffff:ffff:ffff:ffff:ffff"
        nested = doc["entities"][0]["entities"][0]
        assert nested["roles"] == ["abuse"]
        assert ["email", {}, "text", "abuse@x.example"] in nested["vcardArray"][1]
    assert server._server is None  # stopped by the lab thread


async def test_canned_reply(srv: RdapServer) -> None:
    srv.respond("rdap.arin.net", "/registry/ip/8.8.8.8", b"[]", status=418)
    status, _h, body = await get(srv, "RDAP.arin.net:443", "/registry/ip/8.8.8.8")
    assert (status, body) == (418, b"[]")
    status, _h, _b = await get(srv, "rdap.arin.net", "/registry/ip/8.8.8.9")
    assert status == 200  # other paths route as usual
