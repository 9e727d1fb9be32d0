"""TLS and certificate details of a finished handshake, and the two client contexts.

How verification works (and what it costs). Python 3.11 gives no way to learn OpenSSL's
verification result from a handshake that did not enforce it, and exposes neither the
peer's intermediate certificates nor a "verify this chain" call, so a certificate cannot be
verified offline the way a real client would (with the intermediates the server sent).
The probes therefore handshake *first with the verifying context* (system store plus
Settings.tls_ca_file, host name or IP checked). When that succeeds the same handshake
yields the certificate for inspection: one handshake in all, the common case. When it
fails with a TLS error, the caller reconnects with the inspecting context (verification
off, legacy protocol versions allowed) to read the certificate anyway and reports the first
handshake's error as the verification result: a second full connection (connect, greeting,
STARTTLS dialogue) only for servers whose certificate or TLS set-up is already a problem.

``from_ssl_object`` turns the finished connection into a frozen TlsInfo; the certificate
(``getpeercert(binary_form=True)``, available whatever the verify mode) is parsed with
``cryptography``, and expiry, self-signature and the host-name match are computed from it
so that every problem is listed, not only the first one OpenSSL stopped at.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import warnings
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from tui.config import Settings

# A certificate this close to its end is called out in verdicts (not an error: ACME
# clients renew with about 30 days left, so fewer than 21 means renewal is failing).
EXPIRY_WARN_DAYS = 21

# OpenSSL X509_V_ERR_* codes that get a fixed wording (Python rewrites their message).
_HOSTNAME_MISMATCH = 62
_IP_MISMATCH = 64


class TlsSetupError(ValueError):
    """The TLS configuration (Settings.tls_ca_file) is unusable; str() is the reason."""


@dataclass(frozen=True, slots=True)
class TlsInfo:
    """One TLS session and the server certificate it presented."""

    version: str | None  # "TLSv1.3"
    cipher: str | None
    cipher_bits: int | None
    subject: str  # RFC 4514 form
    subject_cn: str | None
    san_dns: tuple[str, ...]
    san_ip: tuple[str, ...]
    issuer: str
    issuer_cn: str | None
    serial: str  # hex
    not_before: str | None  # ISO 8601, UTC
    not_after: str | None
    days_left: int | None  # whole days until not_after; negative once expired
    expired: bool
    not_yet_valid: bool
    expiring_soon: bool  # fewer than EXPIRY_WARN_DAYS left (and not expired)
    self_signed: bool
    key: str | None  # "RSA 2048", "EC secp256r1", "Ed25519"
    signature_hash: str | None
    sha256: str  # certificate fingerprint, hex
    expected_host: str | None  # the name (or IP) the certificate should be valid for
    host_match: bool | None  # None when there was nothing to compare with
    verified: bool  # chain and name verified against the system store + tls_ca_file
    verify_error: str  # "" when verified, else "certificate has expired", …
    problems: tuple[str, ...]  # every problem found when not verified; empty = all good
    handshake_ms: float

    @property
    def ok(self) -> bool:
        return self.verified and not self.problems


# -- contexts ------------------------------------------------------------------------------


def verify_context(settings: Settings) -> ssl.SSLContext:
    """A client context as strict as a real client's: system CAs + Settings.tls_ca_file,
    certificate required, host name (or IP) checked. Raises TlsSetupError."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if settings.tls_ca_file:
        try:
            ctx.load_verify_locations(cafile=settings.tls_ca_file)
        except FileNotFoundError:
            raise TlsSetupError(f"tls_ca_file {settings.tls_ca_file}: no such file") from None
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise TlsSetupError(f"tls_ca_file {settings.tls_ca_file}: {exc}") from None
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def inspect_context() -> ssl.SSLContext:
    """A client context that accepts any certificate and old protocol versions, so that
    the certificate of a misconfigured or legacy server can still be read."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with warnings.catch_warnings():
            # Deprecated for connecting; here it only lets an old server be described.
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
        # Security level 0 lets OpenSSL 3 negotiate TLS 1.0/1.1 and small keys at all.
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pass  # a build without legacy support: inspect what the defaults allow
    return ctx


@dataclass(frozen=True, slots=True)
class TlsContexts:
    verify: ssl.SSLContext
    inspect: ssl.SSLContext


def make_contexts(settings: Settings) -> TlsContexts:
    """Both client contexts for one run (build once, share across connections)."""
    return TlsContexts(verify_context(settings), inspect_context())


# -- handshake and errors -------------------------------------------------------------------


async def start_tls(writer: asyncio.StreamWriter, context: ssl.SSLContext,
                    server_hostname: str | None, timeout: float) -> ssl.SSLObject:
    """Upgrade a plain stream to TLS within ``timeout`` (implicit TLS = upgrade at once).

    Raises ssl.SSLError (incl. SSLCertVerificationError), TimeoutError, ConnectionError /
    OSError; the caller turns them into a result with ``describe_tls_error``.
    """
    async with asyncio.timeout(timeout):
        await writer.start_tls(context, server_hostname=server_hostname,
                               ssl_handshake_timeout=timeout)
    obj = writer.get_extra_info("ssl_object")
    if obj is None:  # pragma: no cover - asyncio always sets it after start_tls
        raise ssl.SSLError("no TLS session after the handshake")
    return obj


def verify_error_text(exc: ssl.SSLCertVerificationError) -> str:
    """OpenSSL's verification failure in a stable wording: 'certificate has expired',
    'self-signed certificate', 'hostname mismatch', 'IP address mismatch', …"""
    code = getattr(exc, "verify_code", None)
    if code == _HOSTNAME_MISMATCH:
        return "hostname mismatch"
    if code == _IP_MISMATCH:
        return "IP address mismatch"
    message = str(getattr(exc, "verify_message", "") or getattr(exc, "reason", "") or exc)
    # OpenSSL 1.1 spells it "self signed", 3.x "self-signed".
    return message.replace("self signed", "self-signed")


def describe_tls_error(exc: BaseException) -> str:
    """One line for any exception out of a handshake."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return verify_error_text(exc)
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "reason", None) or exc.__class__.__name__
        if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            reason = "the server closed the connection during the handshake"
        return f"TLS handshake failed: {str(reason).lower().replace('_', ' ')}"
    if isinstance(exc, TimeoutError):
        return "TLS handshake timed out"
    if isinstance(exc, ConnectionResetError):
        return "TLS handshake failed: connection reset by the server"
    if isinstance(exc, OSError):
        return f"TLS handshake failed: {exc.strerror or exc}"
    return f"TLS handshake failed: {exc}"


# -- the certificate ------------------------------------------------------------------------


def _cn(name: x509.Name) -> str | None:
    try:
        attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return None
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _name_text(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()
    except ValueError:
        return "(unparsable name)"


def _sans(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return (), ()
    except ValueError:  # a malformed extension: show none rather than fail the probe
        return (), ()
    dns_names = tuple(str(v) for v in ext.value.get_values_for_type(x509.DNSName))
    ips = tuple(ip.compressed for ip in ext.value.get_values_for_type(x509.IPAddress))
    return dns_names, ips


def _key_text(cert: x509.Certificate) -> str | None:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return None
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size}"
    return type(key).__name__


def _is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _wildcard_match(pattern: str, name: str) -> bool:
    """RFC 6125 rules as OpenSSL applies them: '*' only as the whole left-most label,
    matching exactly one label, and never directly under a single-label suffix."""
    pattern = pattern.lower().rstrip(".")
    if pattern == name:
        return True
    if not pattern.startswith("*.") or pattern.count(".") < 2 or "*" in pattern[1:]:
        return False
    head, _, rest = name.partition(".")
    return bool(head) and rest == pattern[2:]


def host_matches(host: str, san_dns: tuple[str, ...], san_ip: tuple[str, ...],
                 cn: str | None) -> bool:
    """Is a certificate with these names valid for ``host`` (a name or an IP literal)?

    IPs match only IP SANs; names match DNS SANs, or the CN when there are no DNS SANs
    (what OpenSSL does with Python's default hostname_checks_common_name)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return any(ipaddress.ip_address(v) == ip for v in san_ip)
    name = host.lower().rstrip(".")
    patterns = san_dns if san_dns else ((cn,) if cn else ())
    return any(_wildcard_match(p, name) for p in patterns)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _problems(verified: bool, verify_error: str, expired: bool, not_yet_valid: bool,
              self_signed: bool, host_match: bool | None, ip_target: bool) -> tuple[str, ...]:
    if verified:
        # OpenSSL checked dates, chain and name; a self-signed certificate that verified
        # is one the user chose to trust (tls_ca_file), not a problem.
        return ()
    found: list[str] = []
    if expired:
        found.append("certificate has expired")
    if not_yet_valid:
        found.append("certificate is not yet valid")
    if self_signed:
        found.append("self-signed certificate")
    if host_match is False:
        found.append("IP address mismatch" if ip_target else "hostname mismatch")
    if verify_error and verify_error not in found:
        found.append(verify_error)
    return tuple(found)


def from_certificate(der: bytes | None, *, expected_host: str | None, verified: bool,
                     verify_error: str = "", version: str | None = None,
                     cipher: tuple[str, str, int] | None = None, handshake_ms: float = 0.0,
                     now: dt.datetime | None = None) -> TlsInfo:
    """TlsInfo from a DER certificate and the session facts (the testable core)."""
    moment = now or dt.datetime.now(dt.UTC)
    cipher_name, cipher_bits = (cipher[0], cipher[2]) if cipher else (None, None)
    ip_target = False
    if expected_host:
        try:
            ipaddress.ip_address(expected_host.strip("[]"))
            ip_target = True
        except ValueError:
            pass
    cert: x509.Certificate | None = None
    parse_error = ""
    if der:
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError as exc:
            parse_error = f"unparsable certificate: {exc}"
    else:
        parse_error = "the server sent no certificate"
    if cert is None:
        error = verify_error or parse_error
        return TlsInfo(
            version=version, cipher=cipher_name, cipher_bits=cipher_bits, subject="",
            subject_cn=None, san_dns=(), san_ip=(), issuer="", issuer_cn=None, serial="",
            not_before=None, not_after=None, days_left=None, expired=False,
            not_yet_valid=False, expiring_soon=False, self_signed=False, key=None,
            signature_hash=None, sha256="", expected_host=expected_host, host_match=None,
            verified=verified and not parse_error, verify_error="" if verified else error,
            problems=(parse_error,) if parse_error else ((error,) if error else ()),
            handshake_ms=handshake_ms,
        )
    san_dns, san_ip = _sans(cert)
    subject_cn = _cn(cert.subject)
    not_before = cert.not_valid_before_utc
    not_after = cert.not_valid_after_utc
    expired = moment > not_after
    not_yet_valid = moment < not_before
    days_left = (not_after - moment) // dt.timedelta(days=1)
    self_signed = _is_self_signed(cert)
    host_match = (host_matches(expected_host, san_dns, san_ip, subject_cn)
                  if expected_host else None)
    try:
        sig_hash = cert.signature_hash_algorithm
        signature_hash = sig_hash.name if sig_hash is not None else None
    except UnsupportedAlgorithm:
        signature_hash = None
    return TlsInfo(
        version=version,
        cipher=cipher_name,
        cipher_bits=cipher_bits,
        subject=_name_text(cert.subject),
        subject_cn=subject_cn,
        san_dns=san_dns,
        san_ip=san_ip,
        issuer=_name_text(cert.issuer),
        issuer_cn=_cn(cert.issuer),
        serial=format(cert.serial_number, "x"),
        not_before=_iso(not_before),
        not_after=_iso(not_after),
        days_left=days_left,
        expired=expired,
        not_yet_valid=not_yet_valid,
        expiring_soon=not expired and days_left < EXPIRY_WARN_DAYS,
        self_signed=self_signed,
        key=_key_text(cert),
        signature_hash=signature_hash,
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        expected_host=expected_host,
        host_match=host_match,
        verified=verified,
        verify_error="" if verified else verify_error,
        problems=_problems(verified, verify_error, expired, not_yet_valid, self_signed,
                           host_match, ip_target),
        handshake_ms=handshake_ms,
    )


def from_ssl_object(obj: ssl.SSLObject | ssl.SSLSocket, *, expected_host: str | None,
                    verified: bool, verify_error: str = "", handshake_ms: float = 0.0,
                    now: dt.datetime | None = None) -> TlsInfo:
    """TlsInfo from a finished connection (``writer.get_extra_info("ssl_object")``).

    ``verified``/``verify_error`` say how the handshake went with the verifying context
    (see the module docstring): True when this very session was made with it.
    """
    try:
        der = obj.getpeercert(binary_form=True)
    except (ValueError, ssl.SSLError):
        der = None
    return from_certificate(
        der, expected_host=expected_host, verified=verified, verify_error=verify_error,
        version=obj.version(), cipher=obj.cipher(), handshake_ms=handshake_ms, now=now,
    )
