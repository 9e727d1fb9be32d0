"""MTA fingerprinting: every rule example, every lab preset, hostile text, the rules file
checks, and `mxscope fingerprint` (text, JSON, JSON lines, malformed lines, exit codes)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.cli import main
from tui.commands.fingerprint import MAX_INPUT_LINE
from tui.lab.smtp import PRESETS
from tui.probes.fingerprint import (
    CATEGORIES,
    MAX_FIELD_CHARS,
    RuleError,
    default_rules,
    identify,
    load_rules,
    normalise,
    required_literals,
)

RULES = default_rules()
EXAMPLES = [
    pytest.param(rule.id, example, id=f"{rule.id}-{i}")
    for rule in RULES.rules
    for i, example in enumerate(rule.examples)
]

# What each lab preset must be identified as, from greeting + EHLO + HELP together.
LAB_EXPECTED: dict[str, tuple[str, str | None, str | None]] = {
    "sendmail": ("Sendmail", "Sendmail", "8.17.1"),
    "postfix": ("Postfix", "Postfix", None),
    "postfix-debian": ("Postfix", "Postfix", None),
    "postfix-ubuntu": ("Postfix", "Postfix", None),
    "postfix-multiline": ("Postfix", "Postfix", None),
    "postscreen": ("Postfix", "Postfix", None),
    "qmail": ("qmail", "qmail", None),
    "exim": ("Exim", "Exim", "4.97"),
    "imail": ("IMail", "IMail Server", "12.5.7"),
    "intermail": ("InterMail", "InterMail", "M.8.04.03.22"),
    "exchange": ("Microsoft Exchange", "Microsoft Exchange Server 2013 or later", None),
    "exchange-2003": ("Microsoft Exchange", "Microsoft Exchange 2003 / IIS SMTP 6.0",
                      "6.0.3790.3959"),
    "exchange-online": ("Other", "Exchange Online Protection", None),
    "opensmtpd": ("Other", "OpenSMTPD", None),
    "haraka": ("Other", "Haraka", "3.0.3"),
    "mdaemon": ("Other", "MDaemon", "23.5.2"),
    "mailenable": ("Other", "MailEnable", "10.44"),
    "kerio": ("Other", "Kerio Connect", "10.0.2"),
    "generic": ("Unidentified", None, None),
}


@pytest.mark.parametrize(("rule_id", "example"), EXAMPLES)
def test_rule_examples(rule_id: str, example: dict) -> None:
    got = identify(example.get("banner"), example.get("ehlo"), example.get("help"))
    assert (got.category, got.product, got.version) == (
        example["category"], example["product"], example["version"]
    )
    assert got.rule_id is not None
    assert got.evidence, "an identification must say what matched"


def test_each_rule_wins_at_least_one_of_its_examples() -> None:
    # Otherwise a rule is shadowed by a higher one and its examples prove nothing about it.
    for rule in RULES.rules:
        winners = {
            identify(e.get("banner"), e.get("ehlo"), e.get("help")).rule_id
            for e in rule.examples
        }
        assert rule.id in winners, rule.id


@pytest.mark.parametrize("example", RULES.unidentified_examples)
def test_unidentified_examples(example: dict) -> None:
    got = identify(example.get("banner"), example.get("ehlo"), example.get("help"))
    assert got.category == "Unidentified"
    assert (got.vendor, got.product, got.version, got.rule_id) == (None, None, None, None)
    assert got.confidence == 0.0


@pytest.mark.parametrize("software", ["postfix", "exim", "sendmail", "qmail", "haraka",
                                      "mdaemon", "kerio", "opensmtpd", "imail", "intermail"])
def test_software_name_inside_a_host_name_is_not_evidence(software: str) -> None:
    assert identify(f"220 {software}.example.com ESMTP").category == "Unidentified"
    assert identify(f"220 mail.{software}-hosting.example ESMTP").category == "Unidentified"


def test_lab_expectations_cover_every_preset() -> None:
    assert set(LAB_EXPECTED) == set(PRESETS), "a new lab preset needs an expected identity"


@pytest.mark.parametrize("key", sorted(LAB_EXPECTED))
def test_lab_preset_texts(key: str) -> None:
    preset = PRESETS[key]
    got = identify(preset.greeting, preset.ehlo, preset.help)
    assert (got.category, got.product, got.version) == LAB_EXPECTED[key]


def test_qmail_needs_its_help_reply() -> None:
    preset = PRESETS["qmail"]
    assert identify(preset.greeting).category == "Unidentified"
    assert identify(preset.greeting, preset.ehlo, preset.help).category == "qmail"


def test_banner_beats_ehlo_hint() -> None:
    got = identify("220 relay.example.com ESMTP Postfix",
                   ["250-relay.example.com", "250-XEXCH50", "250 X-EXPS NTLM"])
    assert got.category == "Postfix"
    only_ehlo = identify("220 relay.example.com ESMTP",
                         ["250-relay.example.com", "250-XEXCH50", "250 X-EXPS NTLM"])
    assert only_ehlo.category == "Microsoft Exchange"
    assert only_ehlo.confidence < got.confidence


def test_version_from_a_lower_rule_of_the_same_product() -> None:
    got = identify("220 mx.example.org ESMTP Sendmail ready",
                   help=["214-2.0.0 This is sendmail version 8.17.1", "214 2.0.0 End"])
    assert (got.rule_id, got.version) == ("sendmail", "8.17.1")
    assert any(e.startswith("help:") for e in got.evidence)


def test_codes_optional_and_forms_equivalent() -> None:
    with_codes = identify(["220-mx.example.com ESMTP Exim 4.96", "220 welcome"])
    without = identify(["mx.example.com ESMTP Exim 4.96", "welcome"])
    as_text = identify("220-mx.example.com ESMTP Exim 4.96\r\n220 welcome")
    assert with_codes == without == as_text
    assert with_codes.version == "4.96"


def test_normalise_is_bounded() -> None:
    huge = "220 " + "A" * 10_000_000
    assert len(normalise(huge)) <= MAX_FIELD_CHARS
    many = ["220-x"] * 100_000
    assert normalise(many).count("\n") < 100
    start = time.perf_counter()
    assert identify(huge, ["250-" + "B" * 5_000_000], "214 " + "a." * 2_000_000).category
    # Generous bound: the point is "not proportional to 10 MB", not a speed claim.
    assert time.perf_counter() - start < 5


def test_identity_is_frozen() -> None:
    got = identify("220 mx ESMTP Postfix")
    with pytest.raises(AttributeError):
        got.category = "Exim"  # type: ignore[misc]


text_or_lines = st.one_of(
    st.none(), st.text(max_size=300), st.lists(st.text(max_size=120), max_size=8)
)


@settings(max_examples=300, deadline=None)
@given(banner=text_or_lines, ehlo=text_or_lines, help_=text_or_lines)
def test_identify_never_raises(banner, ehlo, help_) -> None:
    got = identify(banner, ehlo, help_)
    assert got.category in CATEGORIES
    if got.category == "Unidentified":
        assert got.rule_id is None
    else:
        assert got.rule_id is not None and got.product


software_words = st.sampled_from(["Postfix", "Exim", "Sendmail", "qmail", "ESMTP", "Microsoft",
                                  "Service", "(Debian/GNU)", "4.96", "ready", "-", "gsmtp"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(software_words, st.text(max_size=12)), max_size=12))
def test_identify_on_near_miss_greetings(words: list[str]) -> None:
    got = identify("220 " + " ".join(words))
    assert got.category in CATEGORIES


# -- the literal prefilter: same answers as trying every rule -------------------------------

PATTERNS = [(rule.id, field, pattern) for rule in RULES.rules for field, pattern in rule.patterns]


def _both(banner, ehlo=None, help_=None):
    fast = RULES.identify(banner, ehlo, help_)
    # The survey's evidence-free variant must name the same MTA.
    assert RULES.classify(banner, ehlo, help_) == (fast.category, fast.vendor, fast.product,
                                                    fast.version)
    return fast, RULES.identify_all_rules(banner, ehlo, help_)


def test_prefilter_agrees_on_every_example_and_preset() -> None:
    cases = [(e.get("banner"), e.get("ehlo"), e.get("help"))
             for rule in RULES.rules for e in rule.examples]
    cases += [(e.get("banner"), e.get("ehlo"), e.get("help")) for e in RULES.unidentified_examples]
    cases += [(p.greeting, p.ehlo, p.help) for p in PRESETS.values()]
    cases += [(b, None, None) for b, _e, _h in cases]  # the greeting alone too
    for case in cases:
        fast, brute = _both(*case)
        assert fast == brute, case


def test_prefilter_runs_few_rules_and_none_for_anonymous_greetings() -> None:
    # The point of the prefilter: a greeting naming no software tries no rule at all.
    texts = ("mx.example.com ESMTP ready", "", "")
    assert RULES.candidates(texts) == 0
    picked = RULES.candidates(("mx.example.com ESMTP Postfix (Debian/GNU)", "", ""))
    ids = [rule.id for i, rule in enumerate(RULES.rules) if picked >> i & 1]
    assert set(ids) == {"postfix-debian", "postfix"}


@pytest.mark.parametrize("greeting", ["220 mx ESMTP \u017fendmail 8.15.2",  # long s ~ s
                                      "220 mx ESMTP EX\u0131M 4.96",  # dotless i ~ i
                                      "220 mx ESMTP Postfix \u2603"])
def test_non_ascii_text_is_not_filtered(greeting: str) -> None:
    # re's IGNORECASE equates these with ASCII letters; str.lower() does not.
    fast, brute = _both(greeting)
    assert fast == brute
    assert fast.category != "Unidentified"


@pytest.mark.parametrize(("regex", "literals"), [
    (r"(?<![\w.-])Sendmail(?:\s+(?P<v>\d+))?(?![\w-])", {"sendmail"}),
    (r"(?:Lotus|IBM|HCL) Domino", {" domino"}),
    (r"\.(?:pphosted|ppe-hosted)\.com\b|Proofpoint", {"hosted", "proofpoint"}),
    (r"(?:5\.5\.2 )?Error: command", {"error: command"}),
    (r"(?:abc)+x", {"abc"}),
    (r"netqmail|qmail", {"qmail"}),
    (r"Foo|\d+", None),  # one alternative needs no literal: no filter
    (r"\d+\s*[a-z]*", None),
    (r"(?:Foo)?\w", None),
    (r"caf\u00e9", {"caf"}),  # only ASCII literals
])
def test_required_literals(regex: str, literals: set[str] | None) -> None:
    got = required_literals(re.compile(regex, re.IGNORECASE | re.MULTILINE))
    assert got == (None if literals is None else frozenset(literals))


def test_rules_without_literals_are_always_tried(tmp_path: Path) -> None:
    rules = load_rules(_write(tmp_path, [{**GOOD, "banner": r"^\d{3}x\d+$"},
                                         {**GOOD, "id": "y", "banner": r"Frob"}]))
    assert rules.identify("123x45").rule_id == "x"
    assert rules.identify("mx FROB").rule_id == "y"
    assert rules.identify("mx ESMTP").rule_id is None


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PATTERNS).flatmap(
    lambda p: st.tuples(st.just(p), st.from_regex(p[2]), st.text(max_size=20))))
def test_prefilter_literals_are_necessary(case) -> None:
    # Text the rule's own regex generates must pass its literal filter, and identify
    # must agree with trying every rule, whatever text surrounds it.
    (rule_id, field, pattern), matched, noise = case
    literals = required_literals(pattern)
    if literals is not None and matched.isascii():
        assert any(lit in matched.lower() for lit in literals), (rule_id, matched)
    parts: list[str | None] = [None, None, None]
    parts[field] = noise + matched
    fast, brute = _both(*parts)
    assert fast == brute


odd_chars = st.sampled_from(["\u017f", "\u0131", "\u0130", "\u212a", "\xdf", "\xe9",
                             "\u2603", "(", ")", "/", "[", "]", ".", "-", ",", ":"])
literal_words = st.sampled_from(sorted({lit for _r, _f, p in PATTERNS
                                        for lit in required_literals(p) or ()}))


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(st.one_of(software_words, literal_words, odd_chars,
                                   st.text(max_size=8)), max_size=10).map(" ".join),
                min_size=3, max_size=3))
def test_prefilter_agrees_on_random_greetings(parts: list[str]) -> None:
    fast, brute = _both(*parts)
    assert fast == brute


# -- the rules file ------------------------------------------------------------------------


def _write(tmp_path: Path, rules: list[dict]) -> Path:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"rules": rules}), encoding="utf-8")
    return path


GOOD = {"id": "x", "category": "Other", "vendor": "V", "product": "P", "priority": 1,
        "confidence": 0.5, "banner": "X", "examples": [{"banner": "X"}]}


@pytest.mark.parametrize(("change", "why"), [
    ({"category": "Unidentified"}, "category"),
    ({"category": "Qmail"}, "category"),
    ({"banner": "(unclosed"}, "regex"),
    ({"banner": None}, "at least one"),
    ({"examples": []}, "examples"),
    ({"priority": "high"}, "priority"),
    ({"confidence": 2}, "confidence"),
    ({"product": ""}, "product"),
])
def test_bad_rules_are_refused(tmp_path: Path, change: dict, why: str) -> None:
    rule = {**GOOD, **change}
    rule = {k: v for k, v in rule.items() if v is not None}
    with pytest.raises(RuleError, match=why):
        load_rules(_write(tmp_path, [rule]))


def test_duplicate_rule_ids_refused(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="duplicate"):
        load_rules(_write(tmp_path, [GOOD, GOOD]))


def test_custom_rules_file_works(tmp_path: Path) -> None:
    rules = load_rules(_write(tmp_path, [{**GOOD, "banner": r"Frob(?P<version>\d+)"}]))
    got = rules.identify("220 mx ESMTP Frob7")
    assert (got.category, got.product, got.version) == ("Other", "P", "7")


# -- CLI -----------------------------------------------------------------------------------


def test_cli_text_table() -> None:
    stdin = "220 mx.example.com ESMTP Postfix (Debian/GNU)\n\n220 mx.example.com ESMTP\n"
    result = CliRunner().invoke(main, ["fingerprint"], input=stdin)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["line", "category", "product", "version"]
    assert lines[1].split()[:2] == ["1", "Postfix"]
    assert lines[2].split()[:2] == ["3", "Unidentified"]  # the blank line 2 is skipped
    assert len(lines) == 3


def test_cli_text_escapes_control_characters() -> None:
    result = CliRunner().invoke(main, ["fingerprint"], input="220 mx ESMTP \x1b[2J\n")
    assert result.exit_code == 0
    assert "\x1b" not in result.output and "\\x1b" in result.output


def test_cli_json_array() -> None:
    stdin = "220 mx ESMTP Exim 4.96\n220 mx ESMTP\n"
    result = CliRunner().invoke(main, ["fingerprint", "--json"], input=stdin)
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert [r["category"] for r in rows] == ["Exim", "Unidentified"]
    assert rows[0]["version"] == "4.96" and rows[0]["line"] == 1
    assert set(rows[0]) == {"line", "banner", "category", "vendor", "product", "version",
                            "rule_id", "confidence", "evidence", "error"}


def test_cli_json_empty_input_is_an_empty_array() -> None:
    result = CliRunner().invoke(main, ["fingerprint", "--json"], input="")
    assert result.exit_code == 0
    assert json.loads(result.output) == []


def test_cli_jsonl_with_help_and_malformed_lines() -> None:
    stdin = "\n".join([
        json.dumps({"banner": "220 mx ESMTP",
                    "help": ["214 qmail home page: http://pobox.com/~djb/qmail.html"]}),
        "{not json",
        json.dumps(["220 a list"]),
        json.dumps({"banner": 7}),
        json.dumps({"ehlo": "250 x"}),
        json.dumps({"banner": "220 x", "extra": 1}),
        json.dumps({"banner": ["220-mx ESMTP Postfix", "220 hi"], "ehlo": "250 mx"}),
    ]) + "\n"
    result = CliRunner().invoke(main, ["fingerprint", "--jsonl", "--json"], input=stdin)
    assert result.exit_code == 2
    rows = json.loads(result.output)
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert rows[0]["category"] == "qmail" and rows[0]["error"] is None
    assert rows[6]["category"] == "Postfix"
    for row in rows[1:6]:
        assert row["error"] and row["category"] is None
    assert "not JSON" in rows[1]["error"]
    assert "missing" in rows[4]["error"]
    assert "unknown key" in rows[5]["error"]


def test_cli_overlong_line_is_reported_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "greetings.txt"
    path.write_text("220 " + "x" * (MAX_INPUT_LINE + 10) + "\n220 mx ESMTP Exim 4.97\n")
    result = CliRunner().invoke(main, ["fingerprint", str(path), "--json"])
    assert result.exit_code == 2
    rows = json.loads(result.output)
    assert rows[0]["line"] == 1 and "longer than" in rows[0]["error"]
    assert rows[1]["line"] == 2 and rows[1]["category"] == "Exim"


def test_cli_missing_file_is_usage_error() -> None:
    result = CliRunner().invoke(main, ["fingerprint", "/nonexistent/greetings.txt"])
    assert result.exit_code == 2
