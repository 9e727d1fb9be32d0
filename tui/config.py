"""One Settings object: defaults < TOML file (platformdirs config dir) < MXSCOPE_* env < flags.

Settings is frozen; derive a changed copy with ``settings.replace(field=value)``.
Tuple fields are written in TOML as arrays and in the environment as comma-separated
lists (``MXSCOPE_NAMESERVERS=127.0.0.1:5353,[::1]:5353``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "mxscope"
ENV_PREFIX = "MXSCOPE_"


class ConfigError(ValueError):
    """A configuration value is malformed; the message names the source and the key."""


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


@dataclass(frozen=True, slots=True)
class Settings:
    # DNS: empty means the system resolver (/etc/resolv.conf). Entries are host[:port],
    # IPv6 with a port in brackets: "[::1]:5353".
    nameservers: tuple[str, ...] = ()
    dns_timeout: float = 3.0
    # Generic per-step network timeout (connect, one RDAP request, one ping reply).
    timeout: float = 5.0
    connect_timeout: float = 5.0
    # Greeting wait: long enough for greet-pause / postscreen servers.
    greeting_timeout: float = 10.0
    smtp_timeout: float = 10.0

    # GeoIP: user databases take precedence over the embedded DB-IP country DB.
    geoip_city_db: str | None = None
    geoip_country_db: str | None = None
    geoip_asn_db: str | None = None

    # RDAP: when set, every RDAP request goes to this base URL (http://host:port) with the
    # RIR's Host header kept; used by the lab and `mxscope demo`.
    rdap_server: str | None = None

    # DNSBL: empty means the catalogue's default set.
    dnsbl_zones: tuple[str, ...] = ()

    # SMTP identity for EHLO and the relay test.
    helo_name: str = "mxscope.invalid"
    relay_mail_from: str = "mxscope-relay-test@example.com"
    relay_rcpt_to: str = "mxscope-relay-test@example.net"

    # Ping.
    ping_count: int = 5
    ping_interval: float = 1.0
    ping_tcp_port: int = 25

    # SMTP port for the smtp and relay checks (the lab may run on 2525 when 25 is not free).
    smtp_port: int = 25

    # Ports probe.
    ports: tuple[int, ...] = (25, 465, 587, 2525, 110, 995, 143, 993)
    # Extra CA bundle (PEM) trusted when verifying TLS certificates, besides the system's.
    tls_ca_file: str | None = None
    # Ask HELP after EHLO (identifies qmail, whose greeting names nothing).
    smtp_help: bool = True

    # Survey limits.
    survey_concurrency: int = 500
    survey_rate: float = 0.0  # targets per second; 0 = unlimited
    survey_timeout: float = 5.0
    survey_exclude_file: str | None = None

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_FIELD_TYPES: dict[str, Any] = typing.get_type_hints(Settings)


def _base_type(tp: Any) -> tuple[Any, bool]:
    """(inner type, optional?) for ``X | None``."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


def _coerce(name: str, value: Any, source: str) -> Any:
    tp, optional = _base_type(_FIELD_TYPES[name])
    if optional and (value is None or value == ""):
        return None
    origin = typing.get_origin(tp)
    try:
        if origin is tuple:
            (item_tp, _ellipsis) = typing.get_args(tp)
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list | tuple):
                raise TypeError("expected a list")
            return tuple(_scalar(item_tp, v) for v in value)
        return _scalar(tp, value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {name}: {exc}") from None


def _scalar(tp: Any, value: Any) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"not a boolean: {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise TypeError("expected an integer")
        return int(value)
    if tp is float:
        if isinstance(value, bool):
            raise TypeError("expected a number")
        result = float(value)
        # NaN passes every comparison, so a NaN timeout would never fire: nothing would end.
        if not math.isfinite(result):
            raise ValueError(f"not a finite number: {value!r}")
        if result < 0:
            raise ValueError("must not be negative")
        return result
    if tp is str:
        if not isinstance(value, str | int | float):
            raise TypeError("expected a string")
        return str(value)
    raise TypeError(f"unsupported type {tp}")


def parse_nameserver(text: str) -> tuple[str, int]:
    """'1.2.3.4', '1.2.3.4:5353', '::1', '[::1]:5353' -> (ip, port). Raises ConfigError."""
    raw = text.strip()
    host, port = raw, 53
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0:
            raise ConfigError(f"nameserver {text!r}: missing ']'")
        host = raw[1:end]
        rest = raw[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ConfigError(f"nameserver {text!r}: expected ':port' after ']'")
            port = _port(rest[1:], text)
    elif raw.count(":") == 1:
        host, port_text = raw.split(":")
        port = _port(port_text, text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(f"nameserver {text!r}: not an IP address") from None
    return host, port


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigError(f"nameserver {whole!r}: bad port {text!r}")
    return int(text)


def _validate(settings: Settings) -> Settings:
    for ns in settings.nameservers:
        parse_nameserver(ns)
    for port in settings.ports:
        if not 0 < port < 65536:
            raise ConfigError(f"ports: {port} is not a TCP port")
    for name in ("smtp_port", "ping_tcp_port"):
        port = getattr(settings, name)
        if not 0 < port < 65536:
            raise ConfigError(f"{name}: {port} is not a TCP port")
    if settings.ping_count < 1:
        raise ConfigError("ping_count: must be at least 1")
    if settings.survey_concurrency < 1:
        raise ConfigError("survey_concurrency: must be at least 1")
    return settings


def _apply(base: dict[str, Any], values: Mapping[str, Any], source: str) -> None:
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in _FIELD_TYPES:
            raise ConfigError(f"{source}: unknown setting {key!r}")
        base[name] = _coerce(name, value, source)


def load_settings(
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    use_default_file: bool = True,
) -> Settings:
    """Build Settings from defaults, a TOML file, MXSCOPE_* environment and flag overrides.

    ``config_file`` None means the platformdirs default file if it exists (unless
    ``use_default_file`` is False, as tests and snapshots do). Overrides whose value is None
    are ignored so that unset CLI flags do not clobber lower layers.
    """
    values: dict[str, Any] = Settings().to_dict()
    path: Path | None
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
    else:
        path = default_config_path() if use_default_file else None
        if path is not None and not path.is_file():
            path = None
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        # Allow either a flat file or a [mxscope] table.
        data = data.get("mxscope", data)
        _apply(values, data, str(path))
    environ = os.environ if env is None else env
    env_values = {
        k[len(ENV_PREFIX) :].lower(): v
        for k, v in environ.items()
        if k.startswith(ENV_PREFIX) and k[len(ENV_PREFIX) :].lower() in _FIELD_TYPES
    }
    _apply(values, env_values, "environment")
    if overrides:
        _apply(values, {k: v for k, v in overrides.items() if v is not None}, "command line")
    return _validate(Settings(**values))

