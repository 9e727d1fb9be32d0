"""`mxscope demo`: the app against the built-in loopback lab — no network needed.

Starts the lab world (DNS with MX/PTR/DNSBL zones, SMTP servers of several kinds and relay
policies, RDAP, GeoIP databases) on a background thread, and opens the app pointed at it
with example targets offered. Nothing leaves 127.0.0.0/8 unless you type another target.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from tui.cli import EXIT_FAILED
from tui.lab.internet import InternetSpec
from tui.lab.runner import LabThread
from tui.lab.world import DEMO_EXAMPLES, LabWorld

# The survey tab's simulated internet: 2,048 addresses, 400 mail servers in the classic
# page's MTA shares, spread over eight lab countries.
DEMO_INTERNET = InternetSpec(network="127.0.0.0/21", listeners=400, seed=1)


def start_demo_lab(lab: LabThread, directory: Path) -> LabWorld:
    return lab.start(LabWorld(directory, internet=DEMO_INTERNET))


@click.command("demo")
@click.option("--check", is_flag=True,
              help="Start the lab, print what it serves, and exit (no app).")
def command(check: bool) -> None:
    """Open the app against the built-in loopback lab (no network needed)."""
    with tempfile.TemporaryDirectory(prefix="mxscope-demo-") as tmp, LabThread() as lab:
        try:
            world = start_demo_lab(lab, Path(tmp))
        except OSError as exc:
            click.echo(f"mxscope: error: cannot start the lab: {exc}", err=True)
            sys.exit(EXIT_FAILED)
        lines = [f"  {host.name:<22} {host.ip:<12} {host.profile.preset:<15} "
                 f"relay {host.profile.relay}" for host in world.hosts]
        if check:
            click.echo(f"lab DNS {world.settings.nameservers[0]}, RDAP {world.rdap.url if world.rdap else '-'}, "
                       f"SMTP port {world.smtp_port}, mail ports {', '.join(map(str, world.mail_ports))}")
            click.echo("\n".join(lines))
            click.echo("examples: " + ", ".join(DEMO_EXAMPLES))
            if world.internet is not None:
                click.echo(f"survey: {DEMO_INTERNET.network} port {world.internet.port} "
                           f"({DEMO_INTERNET.listeners} mail servers)")
            return
        from tui.app import run_app

        run_app(world.settings, examples=DEMO_EXAMPLES,
                banner="demo: loopback lab — try " + ", ".join(DEMO_EXAMPLES[:4]),
                survey_db=Path(tmp) / "surveys.sqlite", survey_source=DEMO_INTERNET.network,
                survey_port=world.internet.port if world.internet else None, survey_lab=True)
