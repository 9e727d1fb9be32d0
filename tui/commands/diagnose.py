"""`mxscope diagnose TARGET`: MX → addresses → every check, one verdict table."""

from __future__ import annotations

import sys

import click

from tui.cli import (
    EXIT_FAILED,
    EXIT_FINDING,
    EXIT_OK,
    build_settings,
    emit,
    json_option,
    printable,
    run_async,
    settings_options,
    target_or_exit,
)
from tui.probes import diagnose
from tui.probes.base import Status

_MARK = {"pass": "ok  ", "info": "info", "warn": "WARN", "fail": "FAIL"}


def render(result: diagnose.DiagnoseResult) -> str:
    lines = [f"Diagnose {result.target}"]
    for host in result.mx:
        pref = f"MX {host.preference:>3}" if host.preference is not None else "host  "
        addrs = ", ".join(host.addresses) or f"{host.status}: {printable(host.message)}"
        lines.append(f"  {pref} {host.name} → {addrs}")
    current = None
    for cell in result.cells:
        if cell.ip != current:
            current = cell.ip
            lines.append(f"\n  {cell.ip}")
        lines.append(f"    {_MARK[cell.level]} {cell.check:<6} {printable(cell.summary, 1000)}")
    lines.append(f"\n{printable(result.message, 1000)}")
    return "\n".join(lines)


@click.command("diagnose")
@click.argument("target")
@click.option("--check", "checks", multiple=True, type=click.Choice(diagnose.CHECKS),
              help="Run only these checks (repeatable); default: all.")
@settings_options
@json_option
def command(target: str, checks: tuple[str, ...], nameservers: tuple[str, ...],
            timeout: float | None, config_file: str | None, as_json: bool) -> None:
    """A domain or host end to end: MX, then every check on each mail host address."""
    parsed = target_or_exit(target)
    settings = build_settings(config_file, nameservers, timeout)
    result = run_async(diagnose.run(parsed, settings, checks=checks or diagnose.CHECKS))
    emit(result, as_json, render)
    if not result.cells:
        sys.exit(EXIT_FAILED if result.status is not Status.OK else EXIT_FINDING)
    sys.exit(EXIT_FINDING if result.problems else EXIT_OK)
