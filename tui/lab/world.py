"""The demo lab: a small, real mail world on loopback for `mxscope demo`, TUI tests and
screenshots.

    world = LabWorld(tmpdir)
    await world.start()              # or LabThread().start(world)
    settings = world.settings        # nameservers, RDAP, GeoIP DBs, CA, SMTP port
    ...
    await world.stop()

What it holds (every address on 127.0.0.0/8):

  domain          MX → host (address)            software    relay policy     extras
  lab.test        mx1.lab.test (127.0.1.25)      Postfix     closed           STARTTLS, good cert, POP3/IMAP
                  mx2.lab.test (127.0.2.25)      Exim        closed
  open.lab.test   relay.open.lab.test (127.0.3.25) Sendmail  open             listed on 3 DNSBLs
  qmail.lab.test  mail.qmail.lab.test (127.0.4.25) qmail     percent hack     PTR not forward-confirmed
  corp.lab.test   exch.corp.lab.test (127.0.5.25)  Exchange  auth required    expired certificate
  grey.lab.test   mx.grey.lab.test (127.0.6.25)    Postfix   postfix-default  454 Relay access denied
  dead.lab.test   mx.dead.lab.test (127.0.7.25)    —         (silent)         accepts, never greets

SMTP listens on port 25 where it may bind (root, nothing else on it), else 2525, else an
ephemeral port; ``settings.smtp_port`` and ``settings.ports`` say which. mx1 also has the
submission/TLS/POP3/IMAP ports where they can be bound.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui.config import Settings
from tui.lab.certs import LabCerts
from tui.lab.dns import DnsServer, Zone
from tui.lab.geoipdb import build_lab_dbs
from tui.lab.internet import Internet, InternetSpec
from tui.lab.mailports import ImapServer, Pop3Server
from tui.lab.rdap import LabEntity as Entity
from tui.lab.rdap import LabNetwork, RdapServer, abuse_contact, add_cymru_records
from tui.lab.smtp import SmtpProfile, SmtpServer
from tui.probes import dnsbl


@dataclass(frozen=True, slots=True)
class LabHost:
    name: str
    ip: str
    domain: str
    profile: SmtpProfile
    ptr: str | None  # None: no PTR; a different name: PTR not forward-confirmed
    listed_on: tuple[str, ...] = ()  # DNSBL catalogue ids that list this address


def _hosts() -> tuple[LabHost, ...]:
    return (
        LabHost("mx1.lab.test", "127.0.1.25", "lab.test",
                SmtpProfile(preset="postfix-debian", hostname="mx1.lab.test", tls="good"),
                "mx1.lab.test"),
        LabHost("mx2.lab.test", "127.0.2.25", "lab.test",
                SmtpProfile(preset="exim", hostname="mx2.lab.test"), "mx2.lab.test"),
        LabHost("relay.open.lab.test", "127.0.3.25", "open.lab.test",
                SmtpProfile(preset="sendmail", hostname="relay.open.lab.test", relay="open",
                            local_domains=("open.lab.test",)),
                "relay.open.lab.test", ("spamhaus-zen", "spamcop", "barracuda")),
        LabHost("mail.qmail.lab.test", "127.0.4.25", "qmail.lab.test",
                SmtpProfile(preset="qmail", hostname="mail.qmail.lab.test",
                            relay="percent-hack", local_domains=("qmail.lab.test",)),
                "dsl-127-0-4-25.isp.lab.test"),
        LabHost("exch.corp.lab.test", "127.0.5.25", "corp.lab.test",
                SmtpProfile(preset="exchange", hostname="exch.corp.lab.test",
                            relay="auth-required", tls="expired",
                            local_domains=("corp.lab.test",)),
                "exch.corp.lab.test"),
        LabHost("mx.grey.lab.test", "127.0.6.25", "grey.lab.test",
                SmtpProfile(preset="postfix", hostname="mx.grey.lab.test",
                            relay="postfix-default", local_domains=("grey.lab.test",)),
                "mx.grey.lab.test"),
        LabHost("mx.dead.lab.test", "127.0.7.25", "dead.lab.test",
                SmtpProfile(preset="generic", hostname="mx.dead.lab.test", hostile="silent"),
                None),
    )


# Public-looking lookup keys the lab's RDAP and DNS know about; looking them up sends
# questions only to the lab servers, never to these addresses.
WHOIS_EXAMPLES: tuple[LabNetwork, ...] = (
    LabNetwork(
        "81.2.69.0/24", "ripencc", "LAB-EXAMPLE-1", "LAB-EXAMPLE-NET", country="GB",
        asn=64500, asn_name="LAB-EXAMPLE-AS Example Mail Hosting Ltd", asn_country="GB",
        entities=(Entity("ORG-EMH1-RIPE", "Example Mail Hosting Ltd", ("registrant",),
                         emails=("noc@mailhost.example",),
                         entities=(abuse_contact("AR-EMH1-RIPE", "abuse@mailhost.example"),)),),
    ),
)
WHOIS_KEY = "81.2.69.160"
DEMO_EXAMPLES = ("lab.test", "mx1.lab.test", "open.lab.test", "127.0.3.25", "qmail.lab.test",
                 "corp.lab.test", "grey.lab.test", "dead.lab.test", WHOIS_KEY)

MX1_EXTRA_PORTS = {465: "smtps", 587: "submission", 110: "pop3", 995: "pop3s", 143: "imap",
                   993: "imaps"}


class LabWorld:
    def __init__(self, directory: str | Path, *, smtp_ports: tuple[int, ...] = (25, 2525, 0),
                 dns_host: str = "127.0.0.1", internet: InternetSpec | None = None) -> None:
        self.directory = Path(directory)
        self.internet_spec = internet
        self.internet: Internet | None = None
        self.smtp_ports = smtp_ports
        self.dns_host = dns_host
        self.hosts = _hosts()
        self.certs: LabCerts | None = None
        self.dns: DnsServer | None = None
        self.rdap: RdapServer | None = None
        self.smtp: dict[str, SmtpServer] = {}
        self.others: list[Any] = []
        self.smtp_port = 0
        self.mail_ports: tuple[int, ...] = ()
        self.settings = Settings()

    # -- the zone ---------------------------------------------------------------------------

    def zone(self) -> Zone:
        zone = Zone()
        domains: dict[str, list[LabHost]] = {}
        for host in self.hosts:
            domains.setdefault(host.domain, []).append(host)
            zone.add(host.name, "A", host.ip)
            if host.ptr:
                zone.add(_reverse(host.ip), "PTR", host.ptr + ".")
        for domain, members in domains.items():
            for i, host in enumerate(members):
                zone.add(domain, "MX", f"{10 * (i + 1)} {host.name}.")
            zone.add(domain, "TXT", "v=spf1 mx -all")
        zone.add("dsl-127-0-4-25.isp.lab.test", "A", "127.0.44.25")  # PTR name → elsewhere
        listings: dict[str, dict[str, tuple[str, str | None]]] = {}
        for host in self.hosts:
            for list_id in host.listed_on:
                listings.setdefault(list_id, {})[host.ip] = ("127.0.0.2", None)
        for entry in dnsbl.catalogue():
            if entry.kind == "domain":
                zone.add_dnsbl(entry.zone, domains={})
                continue
            listed = {}
            for ip, (_code, _reason) in listings.get(entry.id, {}).items():
                code = next(iter(entry.codes), "127.0.0.2")
                listed[ip] = (code, f"{ip} listed on {entry.name} (lab): open relay seen")
            zone.add_dnsbl(entry.zone, listed)
        add_cymru_records(zone, WHOIS_EXAMPLES, WHOIS_KEY)
        return zone

    # -- life cycle ---------------------------------------------------------------------------

    async def _bind_smtp(self, host: LabHost) -> SmtpServer:
        last: OSError | None = None
        for port in self.smtp_ports:
            if self.smtp_port and port != self.smtp_port and port != 0:
                continue  # every lab server uses the same SMTP port once one is chosen
            server = SmtpServer(host.profile, host=host.ip, port=port, certs=self.certs)
            try:
                await server.start()
            except OSError as exc:
                last = exc
                continue
            return server
        raise OSError(f"cannot bind an SMTP port on {host.ip}: {last}")

    async def start(self) -> LabWorld:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.certs = LabCerts()
        dbs = build_lab_dbs(self.directory)
        self.dns = DnsServer(self.zone(), host=self.dns_host)
        await self.dns.start()
        self.rdap = RdapServer(WHOIS_EXAMPLES)
        await self.rdap.start()
        try:
            for host in self.hosts:
                server = await self._bind_smtp(host)
                self.smtp[host.name] = server
                if not self.smtp_port:
                    self.smtp_port = server.port
            mail_ports = [self.smtp_port]
            mx1 = self.hosts[0]
            for port, service in MX1_EXTRA_PORTS.items():
                server = self._extra_server(mx1, port, service)
                try:
                    await server.start()
                except OSError:
                    continue  # not root, or the port is taken: the demo shows fewer ports
                self.others.append(server)
                mail_ports.append(port)
            if self.internet_spec is not None:
                # The survey's simulated internet; its blacklisted hosts are listed on the
                # lab's Spamhaus ZEN zone so the survey's DNSBL panel fills too.
                self.internet = Internet(self.internet_spec)
                await self.internet.start()
                self.internet.add_dnsbl(self.dns.zone, "zen.spamhaus.org")
        except BaseException:
            await self.stop()
            raise
        self.mail_ports = tuple(mail_ports)
        self.settings = dbs.apply(Settings(
            nameservers=(self.dns.nameserver,),
            rdap_server=self.rdap.url,
            tls_ca_file=self.certs.ca_pem_path,
            smtp_port=self.smtp_port,
            ports=self.mail_ports,
            helo_name="demo.mxscope.lab.test",
            relay_mail_from="relay-test@mxscope.example",
            relay_rcpt_to="relay-test@external.example",
            timeout=3.0, dns_timeout=2.0, connect_timeout=2.0,
            greeting_timeout=3.0, smtp_timeout=3.0,
            ping_count=5, ping_interval=0.2,
            survey_concurrency=200, survey_timeout=2.0,
        ))
        return self

    def _extra_server(self, host: LabHost, port: int, service: str) -> Any:
        if service in ("smtps", "submission"):
            profile = SmtpProfile(preset=host.profile.preset, hostname=host.name, tls="good",
                                  implicit_tls=service == "smtps")
            return SmtpServer(profile, host=host.ip, port=port, certs=self.certs)
        cls = Pop3Server if service.startswith("pop3") else ImapServer
        return cls(host.ip, port, hostname=host.name, certs=self.certs,
                   tls="good", implicit_tls=service.endswith("s"))

    async def stop(self) -> None:
        for server in [self.internet, *self.others, *self.smtp.values(), self.rdap, self.dns]:
            if server is not None:
                with contextlib.suppress(Exception):
                    await server.stop()
        self.others.clear()
        self.smtp.clear()
        self.internet = None
        if self.certs is not None:
            self.certs.close()

    async def __aenter__(self) -> LabWorld:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _reverse(ip: str) -> str:
    import ipaddress

    return ipaddress.ip_address(ip).reverse_pointer
