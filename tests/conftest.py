"""Shared test fixtures.

Safety net: every test runs with socket connect/sendto restricted to loopback
(127.0.0.0/8, ::1) so that no test can send traffic off this machine, whatever the code
under test does (for example a resolver falling back to /etc/resolv.conf).
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_sendto = socket.socket.sendto


class OffLoopbackError(OSError):
    pass


def _check(address: object) -> None:
    if isinstance(address, tuple) and address:
        host = address[0]
        try:
            ip = ipaddress.ip_address(str(host).split("%")[0])
        except ValueError:
            raise OffLoopbackError(f"tests may only use IP literals on loopback, got {host!r}") from None
        if not ip.is_loopback and not (ip.version == 6 and ip.ipv4_mapped and ip.ipv4_mapped.is_loopback):
            raise OffLoopbackError(f"test tried to reach non-loopback address {host}")


def _connect(self: socket.socket, address: object) -> None:
    _check(address)
    return _real_connect(self, address)


def _connect_ex(self: socket.socket, address: object) -> int:
    _check(address)
    return _real_connect_ex(self, address)


def _sendto(self: socket.socket, data: bytes, *args: object) -> int:
    _check(args[-1])
    return _real_sendto(self, data, *args)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _connect_ex)
    monkeypatch.setattr(socket.socket, "sendto", _sendto)


@pytest.fixture(autouse=True)
def no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never read the developer's own config file or MXSCOPE_* environment."""
    import os

    for key in list(os.environ):
        if key.startswith("MXSCOPE_"):
            monkeypatch.delenv(key)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
