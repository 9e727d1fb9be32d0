"""`mxscope` = the TUI; `mxscope <tool> …` = the same checks headless, as text or --json.

Exit status of the headless tools:
  0  the check ran and found nothing wrong
  1  the check could not be completed (timeout, refused, DNS/network error)
  2  bad input or usage (nothing was sent)
  3  the check ran and found a problem (listed on a DNSBL, open relay, FCrDNS failed …)
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click

from tui import __version__
from tui.config import ConfigError, Settings, load_settings
from tui.probes.base import to_jsonable
from tui.probes.target import Target, TargetError, parse_target

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_FINDING = 3

# name -> module holding a click command called `command`; imported only when used so
# `mxscope ping` does not pay for Textual or the other tools.
COMMANDS: dict[str, str] = {
    "ping": "tui.commands.ping",
    "rdns": "tui.commands.rdns",
    "whois": "tui.commands.whois",
    "geoip": "tui.commands.geoip",
    "dnsbl": "tui.commands.dnsbl",
    "smtp": "tui.commands.smtp",
    "fingerprint": "tui.commands.fingerprint",
    "relay": "tui.commands.relay",
    "ports": "tui.commands.ports",
    "diagnose": "tui.commands.diagnose",
    "demo": "tui.commands.demo",
    "survey": "tui.commands.survey",
}

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module = importlib.import_module(COMMANDS[cmd_name])
            return module.command
        return super().get_command(ctx, cmd_name)


def settings_options(func: F) -> F:
    """--nameserver, --timeout, --config: accepted by the app and every headless tool."""
    func = click.option(
        "--config", "config_file", type=click.Path(dir_okay=False), default=None,
        help="TOML settings file (default: the platform config dir's mxscope/config.toml).",
    )(func)
    func = click.option(
        "--timeout", type=click.FloatRange(min=0.05, max=600), default=None,
        help="Per-step network timeout in seconds.",
    )(func)
    func = click.option(
        "--nameserver", "nameservers", multiple=True, metavar="HOST[:PORT]",
        help="DNS server to ask (repeatable); [::1]:5353 for IPv6 with a port.",
    )(func)
    return func


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")(
        func
    )


def build_settings(
    config_file: str | None,
    nameservers: tuple[str, ...] = (),
    timeout: float | None = None,
    **overrides: Any,
) -> Settings:
    """Settings for a command; a malformed value exits 2 with a one-line message."""
    values: dict[str, Any] = dict(overrides)
    if nameservers:
        values["nameservers"] = tuple(nameservers)
    if timeout is not None:
        values["timeout"] = timeout
        values["dns_timeout"] = timeout
        values["connect_timeout"] = timeout
    try:
        return load_settings(config_file, overrides=values)
    except ConfigError as exc:
        fail_usage(str(exc))


def fail_usage(message: str) -> Any:
    click.echo(f"mxscope: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def target_or_exit(raw: str) -> Target:
    try:
        return parse_target(raw)
    except TargetError as exc:
        fail_usage(str(exc))


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def printable(text: str, limit: int = 300) -> str:
    """Text from a server (greeting, reply, TXT record) made safe for a terminal: control
    characters shown as escapes, bounded in length. JSON output keeps the text as received."""
    out = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text[:limit])
    return out + ("…" if len(text) > limit else "")


def emit(result: Any, as_json: bool, render: Callable[[Any], str]) -> None:
    """Print one result: JSON (stable keys from the dataclass) or the tool's text rendering."""
    if as_json:
        click.echo(json.dumps(to_jsonable(result), indent=2, ensure_ascii=False))
    else:
        click.echo(render(result))


@click.group(cls=LazyGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@settings_options
@click.version_option(__version__, prog_name="mxscope")
@click.pass_context
def main(
    ctx: click.Context, config_file: str | None, nameservers: tuple[str, ...],
    timeout: float | None,
) -> None:
    """mxscope: diagnose one mail server in seconds, survey thousands live.

    With no command, opens the terminal app. `mxscope demo` opens it against the built-in
    loopback lab (no network needed).
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = build_settings(config_file, nameservers, timeout)
    try:
        app_module = importlib.import_module("tui.app")
    except ModuleNotFoundError as exc:
        if exc.name != "tui.app":
            raise
        click.echo(ctx.get_help())
        return
    app_module.run_app(settings)


if __name__ == "__main__":  # pragma: no cover
    main()
