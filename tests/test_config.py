"""Settings layering: defaults < TOML file < MXSCOPE_* env < flags, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tui.cli import main
from tui.config import ConfigError, Settings, default_config_path, load_settings, parse_nameserver


def test_defaults_without_any_source() -> None:
    s = load_settings(env={}, use_default_file=False)
    assert s == Settings()
    assert s.greeting_timeout >= 7  # postscreen / greet-pause servers need the wait
    assert 25 in s.ports and 587 in s.ports


def test_layers_override_in_order(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'nameservers = ["127.0.0.1:5353"]\ntimeout = 2.5\nhelo_name = "file.example"\n'
        'dnsbl_zones = ["a.test", "b.test"]\n'
    )
    env = {"MXSCOPE_TIMEOUT": "4", "MXSCOPE_DNSBL_ZONES": "c.test, d.test", "OTHER": "x"}
    s = load_settings(cfg, env=env, overrides={"helo_name": "flag.example", "timeout": None})
    assert s.nameservers == ("127.0.0.1:5353",)  # file
    assert s.timeout == 4.0  # env beats file; None flag ignored
    assert s.dnsbl_zones == ("c.test", "d.test")  # env list form
    assert s.helo_name == "flag.example"  # flag beats everything


def test_mxscope_table_form(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[mxscope]\nping_count = 9\n")
    assert load_settings(cfg, env={}).ping_count == 9


def test_default_file_location_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = default_config_path()
    path.parent.mkdir(parents=True)
    path.write_text("ping_interval = 0.5\n")
    assert load_settings(env={}).ping_interval == 0.5
    assert load_settings(env={}, use_default_file=False).ping_interval == 1.0


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("bogus = 1\n", "unknown setting 'bogus'"),
        ('timeout = "soon"\n', "timeout"),
        ("timeout = -1\n", "negative"),
        ("dns_timeout = nan\n", "finite"),
        ("timeout = inf\n", "finite"),
        ('nameservers = ["ns.example"]\n', "not an IP address"),
        ("ports = [70000]\n", "not a TCP port"),
        ("smtp_port = 0\n", "smtp_port: 0 is not a TCP port"),
        ("ping_tcp_port = 70000\n", "ping_tcp_port: 70000 is not a TCP port"),
        ("ping_count = 0\n", "ping_count"),
        ("timeout = [\n", "c.toml"),
    ],
)
def test_bad_file_values_name_the_problem(tmp_path: Path, content: str, needle: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(content)
    with pytest.raises(ConfigError, match=needle):
        load_settings(cfg, env={})


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", env={})


def test_bad_env_value() -> None:
    with pytest.raises(ConfigError, match="environment: ping_count"):
        load_settings(env={"MXSCOPE_PING_COUNT": "many"}, use_default_file=False)
    with pytest.raises(ConfigError, match="environment: dns_timeout: not a finite number"):
        load_settings(env={"MXSCOPE_DNS_TIMEOUT": "nan"}, use_default_file=False)


def test_nan_timeout_flag_is_a_usage_error() -> None:
    """click's FloatRange lets NaN through; a NaN timeout never fires, so it must stop here."""
    result = CliRunner().invoke(main, ["rdns", "127.0.0.1", "--timeout", "nan",
                                       "--nameserver", "127.0.0.1:9"])
    assert result.exit_code == 2, result.output
    assert "not a finite number" in result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("::1", ("::1", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::1]", ("::1", 53)),
    ],
)
def test_parse_nameserver(text: str, expected: tuple[str, int]) -> None:
    assert parse_nameserver(text) == expected


@pytest.mark.parametrize("text", ["[::1", "[::1]x", "1.2.3.4:0", "1.2.3.4:99999", "host:53", ""])
def test_parse_nameserver_rejects(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_nameserver(text)


def test_settings_is_frozen_and_replace_works() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.timeout = 1  # type: ignore[misc]
    assert s.replace(timeout=1.0).timeout == 1.0
