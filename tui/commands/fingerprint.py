"""`mxscope fingerprint`: identify MTAs from greetings read on stdin (or a file).

Input, one record per line:
  default   each non-empty line is one greeting ("220 mx.example.com ESMTP Postfix");
  --jsonl   each non-empty line is a JSON object {"banner": …, "ehlo": …, "help": …}; each
            value is a string or a list of strings (lines), ehlo and help are optional.
Lines longer than MAX_INPUT_LINE characters, bad JSON and wrong shapes are reported for
that line (with its number) and the rest is still processed.

Output: a text table, or with --json ONE JSON array, written as it goes (one element per
line, so a large input streams): {"line", "banner", "category", "vendor", "product",
"version", "rule_id", "confidence", "evidence", "error"} — identity keys are null on an
error line and "error" is null otherwise.

Exit status: 0 every line was read; 2 at least one input line was malformed (reported);
nothing is ever sent on the network.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

import click

from tui.cli import EXIT_OK, EXIT_USAGE, printable
from tui.probes.base import to_jsonable
from tui.probes.fingerprint import MtaIdentity, identify

MAX_INPUT_LINE = 64 * 1024
_KEYS = ("banner", "ehlo", "help")


class InputError(ValueError):
    pass


def read_lines(stream: IO[str]) -> Iterator[tuple[int, str | None]]:
    """(line number, text) per line; text None when the line was too long (the rest of it
    is skipped without being held in memory)."""
    number = 0
    while True:
        line = stream.readline(MAX_INPUT_LINE + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_INPUT_LINE and not line.endswith("\n"):
            while True:  # discard the remainder of the over-long line
                more = stream.readline(MAX_INPUT_LINE)
                if not more or more.endswith("\n"):
                    break
            yield number, None
            continue
        yield number, line.rstrip("\r\n")


def _lines_of(record: dict[str, Any], key: str) -> list[str] | None:
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return value.split("\n")
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise InputError(f'"{key}" must be a string or a list of strings')


def parse_record(text: str, jsonl: bool) -> tuple[list[str], list[str] | None, list[str] | None]:
    if not jsonl:
        return [text], None, None
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise InputError("expected a JSON object with a \"banner\"")
    unknown = sorted(set(record) - set(_KEYS))
    if unknown:
        raise InputError(f"unknown key(s): {', '.join(unknown)}")
    banner = _lines_of(record, "banner")
    if banner is None:
        raise InputError('missing "banner"')
    return banner, _lines_of(record, "ehlo"), _lines_of(record, "help")


def _row(number: int, banner: list[str] | None, mta: MtaIdentity | None,
         error: str | None) -> dict[str, Any]:
    ident = to_jsonable(mta) if mta is not None else dict.fromkeys(
        ("category", "vendor", "product", "version", "rule_id", "confidence", "evidence"))
    return {"line": number, "banner": banner, **ident, "error": error}


def _text_row(row: dict[str, Any]) -> str:
    if row["error"]:
        return f"{row['line']:>5}  error: {row['error']}"
    version = row["version"] or "-"
    product = row["product"] or "-"
    shown = printable(" / ".join(row["banner"] or []), 70)
    return f"{row['line']:>5}  {row['category']:<18} {product:<30} {version:<16} {shown}"


@click.command("fingerprint")
@click.argument("source", type=click.File("r", encoding="utf-8", errors="replace"),
                default="-")
@click.option("--jsonl", is_flag=True,
              help='Input lines are JSON objects {"banner", "ehlo", "help"}.')
@click.option("--json", "as_json", is_flag=True, help="One JSON array on stdout.")
def command(source: IO[str], jsonl: bool, as_json: bool) -> None:
    """Identify the MTA of each greeting in SOURCE (default: stdin), one per line."""
    bad = 0
    first = True
    if as_json:
        click.echo("[", nl=False)
    else:
        click.echo(f"{'line':>5}  {'category':<18} {'product':<30} {'version':<16} greeting")
    for number, text in read_lines(source):
        banner: list[str] | None = None
        mta: MtaIdentity | None = None
        error: str | None = None
        if text is None:
            error = f"line longer than {MAX_INPUT_LINE} characters"
        elif not text.strip():
            continue
        else:
            try:
                banner, ehlo, help_lines = parse_record(text, jsonl)
                mta = identify(banner, ehlo, help_lines)
            except InputError as exc:
                error = str(exc)
        if error is not None:
            bad += 1
        row = _row(number, banner, mta, error)
        if as_json:
            click.echo(("\n" if first else ",\n") + json.dumps(row, ensure_ascii=False),
                       nl=False)
            first = False
        else:
            click.echo(_text_row(row))
    if as_json:
        click.echo("\n]")
    raise SystemExit(EXIT_USAGE if bad else EXIT_OK)
