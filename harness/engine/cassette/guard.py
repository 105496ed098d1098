"""The network guard: in record mode ``none`` nothing leaves the process.

vcrpy refuses unrecorded requests only for the HTTP libraries it patches. A flow that reaches
the network some other way (``requests`` to a tool API, a raw socket, a library vcrpy does not
know) would go live silently. The guard closes that hole at the socket level: while it is
active, connecting an internet socket raises :class:`NetworkBlocked`. Unix sockets stay open.
"""

from __future__ import annotations

import _socket
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["NetworkBlocked", "block_network"]

_lock = threading.Lock()
_depth = 0
_original_connect = socket.socket.connect
_original_connect_ex = socket.socket.connect_ex


class NetworkBlocked(ConnectionRefusedError):
    """A connection was attempted while record mode ``none`` forbids any network access."""


# The guards take ``_socket.socket``: typeshed declares ``connect``/``connect_ex`` on that C base
# class, so a replacement must accept it to be assignable; the patched methods only ever see
# ``socket.socket`` instances, whose ``family`` the base class already has.
def _refuse(sock: _socket.socket, address: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        raise NetworkBlocked(
            f"record mode 'none' blocks the network, but something tried to connect to {address!r}. "
            "Record the missing interactions with --record-mode once, or run live with --record-mode off."
        )


def _guarded_connect(self: _socket.socket, address: Any) -> None:
    _refuse(self, address)
    return _original_connect(self, address)


def _guarded_connect_ex(self: _socket.socket, address: Any) -> int:
    _refuse(self, address)
    return _original_connect_ex(self, address)


@contextmanager
def block_network() -> Iterator[None]:
    """Refuse internet connections inside the block (re-entrant, process-wide)."""
    global _depth
    with _lock:
        _depth += 1
        if _depth == 1:
            socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
            socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                socket.socket.connect = _original_connect  # type: ignore[method-assign]
                socket.socket.connect_ex = _original_connect_ex  # type: ignore[method-assign]
