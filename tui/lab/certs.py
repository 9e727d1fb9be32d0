"""Certificates for the lab's TLS servers: one trustme CA and server certificates that are
good, for the wrong host, expired, or self-signed.

    certs = LabCerts()                      # owns a temp dir; certs.close() removes it
    Settings(tls_ca_file=certs.ca_pem_path) # clients trust the lab CA this way
    ctx = certs.server_context("good", "mx1.lab.test")

"good" covers the hostname and the loopback literals 127.0.0.1 and ::1, so a client may
verify either by name or by IP. "wrong-host" is CA-signed for another name only. "expired"
is CA-signed and valid for the right names but its not_after is in the past. "self-signed"
names the right host but is signed by its own key, not by the CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import ssl
import tempfile
import weakref
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

KINDS = ("good", "wrong-host", "expired", "self-signed")
WRONG_HOST = "wrong-host.invalid"
LOOPBACK_IPS = ("127.0.0.1", "::1")


class LabCerts:
    """A lab CA and the server certificates issued (lazily, cached) from it."""

    def __init__(self, *, wrong_host: str = WRONG_HOST) -> None:
        self.ca = trustme.CA(organization_name="mxscope lab")
        self.wrong_host = wrong_host
        self._dir = Path(tempfile.mkdtemp(prefix="mxscope-lab-certs-"))
        # The directory goes away on close() or, at the latest, when this object is collected.
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self._dir), True)
        self.ca_pem_path = str(self._dir / "lab-ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_pem_path)
        self._chains: dict[tuple[str, str], tuple[Path, Path]] = {}

    @property
    def ca_pem(self) -> bytes:
        return self.ca.cert_pem.bytes()

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> LabCerts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- issuing ------------------------------------------------------------------------------

    def files(self, kind: str, hostname: str) -> tuple[str, str]:
        """(certificate chain PEM path, private key PEM path) for a kind of certificate."""
        if kind not in KINDS:
            raise ValueError(f"unknown certificate kind {kind!r}; one of {KINDS}")
        key = (kind, hostname.lower())
        if key not in self._chains:
            chain, private = self._issue(kind, hostname)
            stem = f"{kind}-{len(self._chains)}"
            cert_path = self._dir / f"{stem}.pem"
            key_path = self._dir / f"{stem}.key"
            cert_path.write_bytes(chain)
            key_path.write_bytes(private)
            key_path.chmod(0o600)
            self._chains[key] = (cert_path, key_path)
        cert_path, key_path = self._chains[key]
        return str(cert_path), str(key_path)

    def cert_pem(self, kind: str, hostname: str) -> bytes:
        """The leaf certificate (first PEM block of the chain), e.g. to compare fingerprints."""
        chain = Path(self.files(kind, hostname)[0]).read_bytes()
        end = b"-----END CERTIFICATE-----"
        return chain[: chain.index(end) + len(end)] + b"\n"

    def _issue(self, kind: str, hostname: str) -> tuple[bytes, bytes]:
        if kind == "self-signed":
            return _self_signed(hostname)
        if kind == "wrong-host":
            leaf = self.ca.issue_cert(self.wrong_host)
        elif kind == "expired":
            now = dt.datetime.now(dt.UTC)
            leaf = self.ca.issue_cert(
                hostname,
                *LOOPBACK_IPS,
                not_before=now - dt.timedelta(days=30),
                not_after=now - dt.timedelta(days=1),
            )
        else:
            leaf = self.ca.issue_cert(hostname, *LOOPBACK_IPS)
        chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
        return chain, leaf.private_key_pem.bytes()

    # -- contexts -----------------------------------------------------------------------------

    def server_context(self, kind: str, hostname: str) -> ssl.SSLContext:
        """A server-side SSLContext presenting the given kind of certificate."""
        cert_path, key_path = self.files(kind, hostname)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_path, key_path)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts the lab CA (and nothing else)."""
        ctx = ssl.create_default_context(cafile=self.ca_pem_path)
        return ctx


def _self_signed(hostname: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mxscope lab self-signed"),
            x509.NameAttribute(NameOID.COMMON_NAME, hostname),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    san = x509.SubjectAlternativeName(
        [x509.DNSName(hostname)] + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in LOOPBACK_IPS]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert_pem, key_pem
