"""Which MTA is this? Rules over the greeting, the EHLO reply and the HELP reply.

The rules live in tui/data/mta_rules.json (format described at its top): each names a
category of the survey, the vendor and product, a priority, and one or more regexes; a
named group ``version`` captures the version where the software shows one. They are
loaded and compiled once, on first use.

``identify(banner, ehlo=None, help=None)`` returns a frozen MtaIdentity and never raises
for any text: a greeting that names no software is "Unidentified" (never "Other", which
means a named MTA outside the big six). Lines may be given with or without their reply
code ("220 mx ESMTP Postfix" and "mx ESMTP Postfix" are the same); only the first
MAX_FIELD_CHARS characters of each part are looked at, so a hostile 10 MB greeting costs
no more than a normal one.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

CATEGORIES: tuple[str, ...] = (
    "Sendmail",
    "Postfix",
    "qmail",
    "Exim",
    "IMail",
    "InterMail",
    "Microsoft Exchange",
    "Other",
    "Unidentified",
)
UNIDENTIFIED = "Unidentified"
FIELDS: tuple[str, ...] = ("banner", "ehlo", "help")

MAX_FIELD_CHARS = 4096  # far more than any real greeting/EHLO/HELP reply
MAX_FIELD_LINES = 64

_CODE_PREFIX = re.compile(r"[0-9]{3}(?:[ -]|$)")


class RuleError(ValueError):
    """The rules file is malformed; the message names the rule and the problem."""


@dataclass(frozen=True, slots=True)
class MtaIdentity:
    category: str  # one of CATEGORIES
    vendor: str | None
    product: str | None
    version: str | None  # as the software shows it, when it does
    rule_id: str | None  # the winning rule; None when Unidentified
    confidence: float  # 0..1; 0 when Unidentified
    evidence: tuple[str, ...]  # "banner: 'ESMTP Postfix'" — what matched, where


UNKNOWN = MtaIdentity(UNIDENTIFIED, None, None, None, None, 0.0, ())


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    category: str
    vendor: str
    product: str
    priority: int
    confidence: float
    patterns: tuple[tuple[int, re.Pattern[str]], ...]  # (field index, regex)
    examples: tuple[dict[str, Any], ...]


class RuleSet:
    """Compiled rules, ordered by priority (highest first, file order breaking ties)."""

    def __init__(self, rules: Sequence[Rule], unidentified_examples: Sequence[dict[str, Any]] = ()):
        self.rules: tuple[Rule, ...] = tuple(
            sorted(rules, key=lambda r: -r.priority)  # sorted() is stable: file order kept
        )
        self.unidentified_examples = tuple(unidentified_examples)
        # Which fields any rule looks at: the others need no normalising.
        self._used = tuple(any(f == i for r in self.rules for f, _ in r.patterns)
                           for i in range(len(FIELDS)))

    def identify(
        self,
        banner: str | Sequence[str] | None,
        ehlo: str | Sequence[str] | None = None,
        help: str | Sequence[str] | None = None,  # noqa: A002 - the SMTP command's name
    ) -> MtaIdentity:
        texts = tuple(
            normalise(part) if used else ""
            for part, used in zip((banner, ehlo, help), self._used, strict=True)
        )
        if not any(texts):
            return UNKNOWN
        for index, rule in enumerate(self.rules):
            found = _match(rule, texts)
            if found is None:
                continue
            version, evidence = found
            if version is None:
                version = self._version_elsewhere(rule, index, texts, evidence)
            return MtaIdentity(rule.category, rule.vendor, rule.product, version, rule.id,
                               rule.confidence, tuple(evidence))
        return UNKNOWN

    def _version_elsewhere(self, winner: Rule, index: int, texts: tuple[str, ...],
                           evidence: list[str]) -> str | None:
        """A lower rule for the same product may see the version (e.g. sendmail's HELP)."""
        for rule in self.rules[index + 1:]:
            if rule.category != winner.category or rule.product != winner.product:
                continue
            found = _match(rule, texts)
            if found is not None and found[0] is not None:
                evidence.extend(found[1])
                return found[0]
        return None


def _match(rule: Rule, texts: tuple[str, ...]) -> tuple[str | None, list[str]] | None:
    version: str | None = None
    evidence: list[str] = []
    for field, pattern in rule.patterns:
        text = texts[field]
        if not text:
            return None
        m = pattern.search(text)
        if m is None:
            return None
        if version is None and "version" in pattern.groupindex:
            version = m.group("version") or None
        evidence.append(f"{FIELDS[field]}: {m.group(0)!r}")
    return version, evidence


def normalise(part: str | Sequence[str] | None) -> str:
    """Lines of one reply -> one string: reply codes stripped, CR removed, bounded."""
    if part is None:
        return ""
    if isinstance(part, str):
        # Cut first: splitting a 10 MB greeting would copy it.
        lines: Sequence[str] = part[: MAX_FIELD_CHARS + 8 * MAX_FIELD_LINES].split("\n")
    else:
        lines = part
    out: list[str] = []
    total = 0
    for line in lines[:MAX_FIELD_LINES]:
        if not isinstance(line, str):
            continue  # ignore non-text items rather than fail: input may come from JSON
        line = line[:MAX_FIELD_CHARS].rstrip("\r")
        if _CODE_PREFIX.match(line):
            line = line[4:]
        out.append(line.strip())
        total += len(line) + 1
        if total >= MAX_FIELD_CHARS:
            break
    return "\n".join(out)[:MAX_FIELD_CHARS]


# -- loading -----------------------------------------------------------------------------


def _rule_from(data: Any, seen: set[str]) -> Rule:
    if not isinstance(data, dict):
        raise RuleError(f"rule is not an object: {data!r:.60}")
    rid = data.get("id")
    if not isinstance(rid, str) or not rid:
        raise RuleError(f"rule without an id: {data!r:.60}")
    if rid in seen:
        raise RuleError(f"rule {rid}: duplicate id")
    seen.add(rid)
    category = data.get("category")
    if category not in CATEGORIES or category == UNIDENTIFIED:
        raise RuleError(f"rule {rid}: category {category!r} is not a named category")
    for key in ("vendor", "product"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise RuleError(f"rule {rid}: {key} must be a non-empty string")
    priority = data.get("priority")
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise RuleError(f"rule {rid}: priority must be an integer")
    confidence = data.get("confidence")
    if not isinstance(confidence, int | float) or not 0 < confidence <= 1:
        raise RuleError(f"rule {rid}: confidence must be a number in (0, 1]")
    patterns: list[tuple[int, re.Pattern[str]]] = []
    for index, field in enumerate(FIELDS):
        source = data.get(field)
        if source is None:
            continue
        if not isinstance(source, str) or not source:
            raise RuleError(f"rule {rid}: {field} must be a non-empty regex string")
        try:
            patterns.append((index, re.compile(source, re.IGNORECASE | re.MULTILINE)))
        except re.error as exc:
            raise RuleError(f"rule {rid}: {field} regex: {exc}") from None
    if not patterns:
        raise RuleError(f"rule {rid}: needs at least one of {', '.join(FIELDS)}")
    examples = data.get("examples")
    if not isinstance(examples, list) or not examples:
        raise RuleError(f"rule {rid}: needs examples")
    return Rule(rid, category, data["vendor"], data["product"], priority, float(confidence),
                tuple(patterns), tuple(examples))


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Read and compile a rules file (default: the packaged mta_rules.json)."""
    if path is None:
        text = resources.files("tui").joinpath("data", "mta_rules.json").read_text("utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RuleError(f"rules file is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RuleError("rules file needs a 'rules' list")
    seen: set[str] = set()
    rules = [_rule_from(item, seen) for item in data["rules"]]
    return RuleSet(rules, data.get("unidentified_examples") or ())


@functools.cache
def default_rules() -> RuleSet:
    return load_rules()


def identify(
    banner: str | Sequence[str] | None,
    ehlo: str | Sequence[str] | None = None,
    help: str | Sequence[str] | None = None,  # noqa: A002 - the SMTP command's name
) -> MtaIdentity:
    """Identify the MTA from its greeting (and, when known, its EHLO and HELP replies)."""
    return default_rules().identify(banner, ehlo, help)
