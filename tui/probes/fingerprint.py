"""Which MTA is this? Rules over the greeting, the EHLO reply and the HELP reply.

The rules live in tui/data/mta_rules.json (format described at its top): each names a
category of the survey, the vendor and product, a priority, and one or more regexes; a
named group ``version`` captures the version where the software shows one. They are
loaded and compiled once, on first use.

Speed (the survey calls this once per answering server): every regex is reduced, once, to
literal strings at least one of which must appear in the text for it to match (read from
its parse tree: a run of literal characters, alternatives of a branch, the body of a
required repetition). Per call, one ``in`` test per literal on the lower-cased text
leaves the few rules worth running; a greeting naming no known software runs no regex.
Lower-casing is exact for ASCII text only (re's IGNORECASE also equates 'ſ' with 's',
'K' with 'k', 'ı' with 'i'), so a non-ASCII field tries every rule, as before. The
result is the same as trying every rule in order (``identify_all_rules``, kept for tests).

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
from typing import Any, Literal, overload

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
_UNKNOWN_FIELDS: tuple[str, None, None, None] = (UNIDENTIFIED, None, None, None)


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
        self._build_prefilter()

    def _build_prefilter(self) -> None:
        """Per field: (literal, bitmask of rules) pairs, where rule i (priority order) gets
        bit i if that literal may satisfy its pattern on this field; rules whose pattern
        has no usable literal are always let through (``_free``)."""
        nfields = len(FIELDS)
        needles: list[dict[str, int]] = [{} for _ in range(nfields)]
        free = [0] * nfields
        uses = [0] * nfields  # rules that have a pattern on the field
        for i, rule in enumerate(self.rules):
            bit = 1 << i
            for field, pattern in rule.patterns:
                uses[field] |= bit
                literals = required_literals(pattern)
                if literals is None:
                    free[field] |= bit
                    continue
                for literal in literals:
                    needles[field][literal] = needles[field].get(literal, 0) | bit
        self._all = (1 << len(self.rules)) - 1
        # Longest first: a distinctive literal tends to be a rarer one (order is only speed).
        self._needles = tuple(tuple(sorted(n.items(), key=lambda kv: -len(kv[0])))
                              for n in needles)
        self._free = tuple(free)
        self._uses = tuple(uses)

    def candidates(self, texts: tuple[str, ...]) -> int:
        """Bitmask (bit i = self.rules[i]) of the rules that may match ``texts``: every
        rule not in it certainly does not."""
        cand = self._all
        for field, text in enumerate(texts):
            uses = self._uses[field]
            if not uses:
                continue
            if not text:
                cand &= ~uses  # _match needs the text of every field a rule names
                continue
            if not text.isascii():
                continue  # see the module docstring: no filtering on this field
            low = text.lower()
            hit = self._free[field]
            for literal, mask in self._needles[field]:
                if literal in low:
                    hit |= mask
            cand &= hit | ~uses
        return cand

    def identify(
        self,
        banner: str | Sequence[str] | None,
        ehlo: str | Sequence[str] | None = None,
        help: str | Sequence[str] | None = None,  # noqa: A002 - the SMTP command's name
    ) -> MtaIdentity:
        used = self._used
        texts = (normalise(banner) if used[0] else "",
                 normalise(ehlo) if used[1] and ehlo is not None else "",
                 normalise(help) if used[2] and help is not None else "")
        if not (texts[0] or texts[1] or texts[2]):
            return UNKNOWN
        return self._first(texts, self.candidates(texts))

    def classify(
        self,
        banner: str | Sequence[str] | None,
        ehlo: str | Sequence[str] | None = None,
        help: str | Sequence[str] | None = None,  # noqa: A002 - the SMTP command's name
    ) -> tuple[str, str | None, str | None, str | None]:
        """identify()'s (category, vendor, product, version) only: what the survey keeps
        per server, without formatting the evidence (a third of identify's time)."""
        used = self._used
        texts = (normalise(banner) if used[0] else "",
                 normalise(ehlo) if used[1] and ehlo is not None else "",
                 normalise(help) if used[2] and help is not None else "")
        if not (texts[0] or texts[1] or texts[2]):
            return _UNKNOWN_FIELDS
        return self._first(texts, self.candidates(texts), brief=True)

    def identify_all_rules(
        self,
        banner: str | Sequence[str] | None,
        ehlo: str | Sequence[str] | None = None,
        help: str | Sequence[str] | None = None,  # noqa: A002
    ) -> MtaIdentity:
        """identify() without the literal prefilter: every rule is tried (tests compare)."""
        texts = tuple(normalise(part) for part in (banner, ehlo, help))
        if not any(texts):
            return UNKNOWN
        return self._first(texts, self._all)

    @overload
    def _first(self, texts: tuple[str, ...], cand: int) -> MtaIdentity: ...

    @overload
    def _first(self, texts: tuple[str, ...], cand: int, brief: Literal[True]
               ) -> tuple[str, str | None, str | None, str | None]: ...

    def _first(self, texts: tuple[str, ...], cand: int, brief: bool = False) -> Any:
        """The first rule of ``cand`` (a bitmask in priority order) that matches: an
        MtaIdentity, or with ``brief`` its (category, vendor, product, version)."""
        rules = self.rules
        while cand:
            index = (cand & -cand).bit_length() - 1  # lowest set bit: highest priority
            cand &= cand - 1
            rule = rules[index]
            found = _match(rule, texts)
            if found is None:
                continue
            version, matches = found
            if version is None:
                version = self._version_elsewhere(rule, cand, texts, matches)
            if brief:
                return rule.category, rule.vendor, rule.product, version
            evidence = tuple(f"{FIELDS[field]}: {m.group(0)!r}" for field, m in matches)
            return MtaIdentity(rule.category, rule.vendor, rule.product, version, rule.id,
                               rule.confidence, evidence)
        return _UNKNOWN_FIELDS if brief else UNKNOWN

    def _version_elsewhere(self, winner: Rule, cand: int, texts: tuple[str, ...],
                           matches: list[tuple[int, re.Match[str]]]) -> str | None:
        """A lower rule for the same product may see the version (e.g. sendmail's HELP);
        ``cand``: the candidate rules below the winner."""
        rules = self.rules
        while cand:
            index = (cand & -cand).bit_length() - 1
            cand &= cand - 1
            rule = rules[index]
            if rule.category != winner.category or rule.product != winner.product:
                continue
            found = _match(rule, texts)
            if found is not None and found[0] is not None:
                matches.extend(found[1])
                return found[0]
        return None


def _match(rule: Rule, texts: tuple[str, ...]
           ) -> tuple[str | None, list[tuple[int, re.Match[str]]]] | None:
    """(version, [(field, match) …]) when every pattern of ``rule`` matches."""
    version: str | None = None
    matches: list[tuple[int, re.Match[str]]] = []
    for field, pattern in rule.patterns:
        text = texts[field]
        if not text:
            return None
        m = pattern.search(text)
        if m is None:
            return None
        if version is None and "version" in pattern.groupindex:
            version = m.group("version") or None
        matches.append((field, m))
    return version, matches


# -- the literal prefilter -------------------------------------------------------------

try:  # the regex parser re itself uses; private, so anything unexpected disables filtering
    from re import _constants as _sre_c
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - a Python without it: every rule is tried
    _sre_parse = None  # type: ignore[assignment]

_REPEATS = tuple(getattr(_sre_c, name) for name in
                 ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
                 if _sre_parse is not None and hasattr(_sre_c, name))


def required_literals(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Lower-case ASCII strings at least one of which occurs (case-insensitively) in any
    ASCII text ``pattern`` matches; None when no such set is known (never filter)."""
    if _sre_parse is None:
        return None
    try:
        tree = _sre_parse.parse(pattern.pattern, pattern.flags)
        found = _required(tree)
    except Exception:  # noqa: BLE001 - an unknown parse tree only costs speed
        return None
    if not found:
        return None
    # "contains 'qmail' or contains 'netqmail'" is just "contains 'qmail'".
    kept = {lit for lit in found if not any(o != lit and o in lit for o in found)}
    return frozenset(kept)


def _required(items: Any) -> set[str] | None:
    """For a sequence of parse items: the best single necessary condition (a set of
    alternative literals), or None."""
    options: list[set[str]] = []
    run: list[str] = []

    def end_run() -> None:
        if run:
            options.append({"".join(run).lower()})
            run.clear()

    for op, av in items:
        if op is _sre_c.LITERAL and av < 128:
            run.append(chr(av))
            continue
        end_run()
        sub: set[str] | None = None
        if op is _sre_c.SUBPATTERN:
            sub = _required(av[-1])
        elif op in _REPEATS:
            low, _high, body = av
            sub = _required(body) if low >= 1 else None
        elif op is _sre_c.ATOMIC_GROUP:
            sub = _required(av)
        elif op is _sre_c.BRANCH:
            alternatives = [_required(alt) for alt in av[1]]
            if all(alternatives):
                sub = set().union(*alternatives)  # type: ignore[arg-type]
        # Anything else (classes, anchors, lookarounds, backrefs …) requires no literal.
        if sub:
            options.append(sub)
    end_run()
    if not options:
        return None
    # The most selective: longest shortest alternative, then fewest alternatives.
    return max(options, key=lambda o: (min(map(len, o)), -len(o)))


# -- normalising -------------------------------------------------------------------------


def normalise(part: str | Sequence[str] | None) -> str:
    """Lines of one reply -> one string: reply codes stripped, CR removed, bounded."""
    if part is None:
        return ""
    if type(part) is tuple and len(part) == 1 and type(part[0]) is str:
        # One line (most greetings): what the loop below makes of it, without the loop.
        line = part[0][:MAX_FIELD_CHARS].rstrip("\r")
        if _CODE_PREFIX.match(line):
            line = line[4:]
        return line.strip()
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


def classify(
    banner: str | Sequence[str] | None,
    ehlo: str | Sequence[str] | None = None,
    help: str | Sequence[str] | None = None,  # noqa: A002 - the SMTP command's name
) -> tuple[str, str | None, str | None, str | None]:
    """identify()'s (category, vendor, product, version), without the evidence."""
    return default_rules().classify(banner, ehlo, help)
