"""tlsinfo: real TLS handshakes on loopback against the lab's good / expired / self-signed /
wrong-host certificates, the verification wording, the two contexts, and certificate
parsing (names, dates, expiry, self-signature, host-name rules)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Iterator

import pytest
import trustme
from cryptography import x509

from tui.config import Settings
from tui.lab.certs import LabCerts
from tui.probes import tlsinfo
from tui.probes.tlsinfo import TlsSetupError

HOST = "mx1.lab.test"


@pytest.fixture(scope="module")
def certs() -> Iterator[LabCerts]:
    with LabCerts() as lab:
        yield lab


@pytest.fixture
def settings(certs: LabCerts) -> Settings:
    return Settings(tls_ca_file=certs.ca_pem_path, timeout=5.0)


class TlsEcho:
    """A TLS server (implicit TLS) presenting one lab certificate."""

    def __init__(self, ctx: ssl.SSLContext, host: str = "127.0.0.1") -> None:
        self.ctx = ctx
        self.host = host
        self.port = 0
        self.server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> TlsEcho:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                writer.write(b"hello\r\n")
                await writer.drain()
                await asyncio.wait_for(reader.read(100), 5)
            except (ConnectionError, OSError, TimeoutError):
                pass
            finally:
                writer.close()

        self.server = await asyncio.start_server(handle, self.host, 0, ssl=self.ctx,
                                                 ssl_handshake_timeout=5)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


async def handshake(port: int, ctx: ssl.SSLContext, name: str,
                    host: str = "127.0.0.1") -> tuple[asyncio.StreamWriter, ssl.SSLObject]:
    _reader, writer = await asyncio.open_connection(host, port)
    obj = await tlsinfo.start_tls(writer, ctx, name, 5.0)
    return writer, obj


@pytest.fixture
async def servers(certs: LabCerts) -> AsyncIterator[dict[str, TlsEcho]]:
    running: dict[str, TlsEcho] = {}
    for kind in ("good", "expired", "self-signed", "wrong-host"):
        running[kind] = await TlsEcho(certs.server_context(kind, HOST)).__aenter__()
    yield running
    for srv in running.values():
        await srv.__aexit__()


async def probe(srv: TlsEcho, settings: Settings, name: str) -> tlsinfo.TlsInfo:
    """What the ports probe does: verify first, inspect on failure."""
    contexts = tlsinfo.make_contexts(settings)
    try:
        writer, obj = await handshake(srv.port, contexts.verify, name, srv.host)
    except ssl.SSLError as exc:
        error = tlsinfo.describe_tls_error(exc)
        writer, obj = await handshake(srv.port, contexts.inspect, name, srv.host)
        info = tlsinfo.from_ssl_object(obj, expected_host=name, verified=False,
                                       verify_error=error)
    else:
        info = tlsinfo.from_ssl_object(obj, expected_host=name, verified=True)
    writer.close()
    return info


async def test_good_certificate_verifies_by_name_and_by_ip(
    servers: dict[str, TlsEcho], settings: Settings
) -> None:
    by_name = await probe(servers["good"], settings, HOST)
    assert by_name.verified and by_name.ok and by_name.problems == ()
    assert by_name.verify_error == ""
    assert by_name.version in ("TLSv1.2", "TLSv1.3")
    assert by_name.cipher and by_name.cipher_bits and by_name.cipher_bits >= 128
    assert HOST in by_name.san_dns
    assert set(by_name.san_ip) == {"127.0.0.1", "::1"}
    assert "mxscope lab" in by_name.issuer
    assert not by_name.self_signed and not by_name.expired and by_name.host_match
    assert by_name.days_left is not None and by_name.days_left > 0
    assert by_name.not_before and by_name.not_after and by_name.not_after.endswith("Z")
    assert len(by_name.sha256) == 64
    by_ip = await probe(servers["good"], settings, "127.0.0.1")
    assert by_ip.verified and by_ip.host_match is True


async def test_expired_certificate(servers: dict[str, TlsEcho], settings: Settings) -> None:
    info = await probe(servers["expired"], settings, HOST)
    assert not info.verified and not info.ok
    assert info.verify_error == "certificate has expired"
    assert info.expired and info.days_left is not None and info.days_left < 0
    assert info.problems == ("certificate has expired",)
    assert not info.expiring_soon and info.host_match is True


async def test_self_signed_certificate(servers: dict[str, TlsEcho], settings: Settings) -> None:
    info = await probe(servers["self-signed"], settings, HOST)
    assert info.verify_error == "self-signed certificate"
    assert info.self_signed and info.subject == info.issuer
    assert info.subject_cn == HOST
    assert info.problems == ("self-signed certificate",)


async def test_wrong_host_certificate(servers: dict[str, TlsEcho], settings: Settings,
                                      certs: LabCerts) -> None:
    info = await probe(servers["wrong-host"], settings, HOST)
    assert info.verify_error == "hostname mismatch"
    assert info.host_match is False and certs.wrong_host in info.san_dns
    assert info.problems == ("hostname mismatch",)
    by_ip = await probe(servers["wrong-host"], settings, "127.0.0.1")
    assert by_ip.verify_error == "IP address mismatch"
    assert by_ip.problems == ("IP address mismatch",)


async def test_lab_ca_is_not_trusted_without_tls_ca_file(servers: dict[str, TlsEcho]) -> None:
    # The system store alone does not know the lab CA: verification fails, the
    # certificate is still read.
    info = await probe(servers["good"], Settings(), HOST)
    assert not info.verified
    assert info.verify_error == "unable to get local issuer certificate"
    assert info.problems == ("unable to get local issuer certificate",)
    assert info.host_match is True and HOST in info.san_dns


async def test_ipv6_loopback(certs: LabCerts, settings: Settings) -> None:
    async with TlsEcho(certs.server_context("good", HOST), host="::1") as srv:
        info = await probe(srv, settings, "::1")
    assert info.verified and info.host_match is True


async def test_non_tls_server_gives_a_handshake_error(settings: Settings) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(10)
        writer.write(b"220 this is not TLS at all\r\n" * 8)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ssl.SSLError) as caught:
            await handshake(port, tlsinfo.inspect_context(), HOST)
    finally:
        server.close()
    text = tlsinfo.describe_tls_error(caught.value)
    assert text.startswith("TLS handshake failed: ") and "_" not in text


def test_describe_other_failures() -> None:
    assert tlsinfo.describe_tls_error(TimeoutError()) == "TLS handshake timed out"
    assert "reset" in tlsinfo.describe_tls_error(ConnectionResetError(104, "reset"))
    eof = ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
    assert "closed the connection" in tlsinfo.describe_tls_error(eof)


def test_tls_ca_file_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TlsSetupError, match="no such file"):
        tlsinfo.make_contexts(Settings(tls_ca_file=str(tmp_path / "missing.pem")))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(TlsSetupError, match="junk.pem"):
        tlsinfo.verify_context(Settings(tls_ca_file=str(junk)))


def test_contexts() -> None:
    strict = tlsinfo.verify_context(Settings())
    assert strict.verify_mode is ssl.CERT_REQUIRED and strict.check_hostname
    loose = tlsinfo.inspect_context()
    assert loose.verify_mode is ssl.CERT_NONE and not loose.check_hostname


# -- parsing without a network --------------------------------------------------------------


def _der(cert_pem: bytes) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_pem_x509_certificate(cert_pem).public_bytes(Encoding.DER)


def test_expiring_soon_and_day_count() -> None:
    ca = trustme.CA()
    not_after = dt.datetime(2030, 1, 31, 12, 0, tzinfo=dt.UTC)
    leaf = ca.issue_cert("soon.lab.test", not_before=not_after - dt.timedelta(days=90),
                         not_after=not_after)
    der = _der(leaf.cert_chain_pems[0].bytes())
    now = not_after - dt.timedelta(days=12, hours=1)
    info = tlsinfo.from_certificate(der, expected_host="soon.lab.test", verified=True, now=now)
    assert info.days_left == 12 and info.expiring_soon and not info.expired
    assert info.not_after == "2030-01-31T12:00:00Z"
    later = tlsinfo.from_certificate(der, expected_host="soon.lab.test", verified=True,
                                     now=not_after - dt.timedelta(days=60))
    assert not later.expiring_soon
    after = tlsinfo.from_certificate(der, expected_host="soon.lab.test", verified=False,
                                     verify_error="certificate has expired",
                                     now=not_after + dt.timedelta(days=2, hours=1))
    assert after.expired and after.days_left == -3
    assert after.problems == ("certificate has expired",)


def test_unverified_lists_every_problem(certs: LabCerts) -> None:
    der = _der(certs.cert_pem("self-signed", HOST))
    info = tlsinfo.from_certificate(der, expected_host="other.lab.test", verified=False,
                                    verify_error="self-signed certificate")
    assert info.problems == ("self-signed certificate", "hostname mismatch")
    trusted = tlsinfo.from_certificate(der, expected_host=HOST, verified=True)
    assert trusted.self_signed and trusted.problems == ()  # the user chose to trust it


def test_garbage_and_missing_certificate() -> None:
    info = tlsinfo.from_certificate(b"\x30\x03junk", expected_host=HOST, verified=False,
                                    verify_error="self-signed certificate")
    assert info.problems and info.problems[0].startswith("unparsable certificate")
    assert info.subject == "" and info.days_left is None
    none = tlsinfo.from_certificate(None, expected_host=HOST, verified=False)
    assert none.problems == ("the server sent no certificate",)


@pytest.mark.parametrize(
    ("host", "dns", "ips", "cn", "expected"),
    [
        ("mx1.lab.test", ("mx1.lab.test",), (), None, True),
        ("MX1.Lab.Test.", ("mx1.lab.test",), (), None, True),
        ("mx1.lab.test", ("*.lab.test",), (), None, True),
        ("a.mx1.lab.test", ("*.lab.test",), (), None, False),  # one label only
        ("lab.test", ("*.lab.test",), (), None, False),
        ("mx1.test", ("*.test",), (), None, False),  # no wildcard under a bare TLD
        ("mx1.lab.test", ("m*.lab.test",), (), None, False),  # no partial wildcards
        ("mx1.lab.test", (), (), "mx1.lab.test", True),  # CN only without DNS SANs
        ("mx1.lab.test", ("other.lab.test",), (), "mx1.lab.test", False),
        ("127.0.0.1", ("127.0.0.1",), (), None, False),  # an IP needs an IP SAN
        ("127.0.0.1", (), ("127.0.0.1",), None, True),
        ("::1", (), ("0:0:0:0:0:0:0:1",), None, True),
        ("[::1]", (), ("::1",), None, True),
        ("::2", (), ("::1",), None, False),
    ],
)
def test_host_matches(host: str, dns: tuple[str, ...], ips: tuple[str, ...], cn: str | None,
                      expected: bool) -> None:
    assert tlsinfo.host_matches(host, dns, ips, cn) is expected
