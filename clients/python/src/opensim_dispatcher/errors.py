"""Exceptions raised by the clients."""

from __future__ import annotations

from typing import Any, Dict, Optional

__all__ = [
    "DispatcherError",
    "RequestFailed",
    "Unauthorized",
    "UnknownMessageType",
    "TransportError",
    "ProtocolError",
]


class DispatcherError(Exception):
    """Base class of every error this package raises."""


class RequestFailed(DispatcherError):
    """The server answered with ``_Success`` 0.

    ``message`` is the reply's ``_Message`` exactly as sent (the protocol's error
    texts are stable, so it is safe to compare against them); ``reply`` is the
    whole decoded reply and ``request_type`` the ``$type`` that was sent.
    """

    def __init__(self, message: str, reply: Dict[str, Any], request_type: str = "") -> None:
        super().__init__(f"{request_type or 'request'} failed: {message}")
        self.message = message
        self.reply = reply
        self.request_type = request_type

    @staticmethod
    def from_reply(reply: Dict[str, Any], request_type: str = "") -> "RequestFailed":
        message = next((str(v or "") for k, v in reply.items() if k.lower() == "_message"), "")
        if message.startswith("Unauthorized invocation;"):
            return Unauthorized(message, reply, request_type)
        if message.startswith("Unknown message type;"):
            return UnknownMessageType(message, reply, request_type)
        return RequestFailed(message, reply, request_type)


class Unauthorized(RequestFailed):
    """The capability is missing, expired, or does not cover the domain or scene."""


class UnknownMessageType(RequestFailed):
    """The host has no handler for this message (in this domain and scene)."""


class TransportError(DispatcherError):
    """The exchange itself failed: connection refused, timeout, HTTP refusal."""

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.status = status


class ProtocolError(DispatcherError):
    """The server's reply could not be decoded."""
