"""Blocking transports: HTTP/1.1 with connection reuse, and UDP packets."""

from __future__ import annotations

import http.client
import socket
import threading
from typing import Dict, Optional, Tuple
from urllib.parse import urlsplit

from .codec import CONTENT_TYPES, decode_reply
from .errors import ProtocolError, TransportError

__all__ = ["HttpTransport", "UdpTransport", "split_url", "split_host_port"]

# Replies larger than this are refused rather than buffered without end.
MAX_REPLY_BYTES = 64 * 1024 * 1024
# What a kept-alive connection the server has closed while idle looks like.
_IDLE_CLOSED = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


def split_url(url: str) -> Tuple[str, int, str]:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", ""):
        raise ValueError(f"only http:// URLs are supported, not {url!r}")
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    path = parts.path or "/Dispatcher/"
    return host, port, path


def split_host_port(binding: str) -> Tuple[str, int]:
    host, sep, port = binding.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected host:port, got {binding!r}")
    return host.strip("[]"), int(port)


class HttpTransport:
    """One kept-alive HTTP connection, shared by threads under a lock.

    A request is retried once, on a fresh connection, only when a *reused*
    connection turns out to have been closed by the server while idle (reset,
    broken pipe, or closed before any reply byte): the request then never
    reached a handler, so repeating it cannot apply it twice.
    """

    def __init__(self, url: str, timeout_seconds: float = 30.0) -> None:
        self.host, self.port, self.path = split_url(url)
        self.timeout_seconds = timeout_seconds
        self._conn: Optional[http.client.HTTPConnection] = None
        self._lock = threading.Lock()
        self.local_address: Optional[str] = None

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_seconds)
        conn.connect()
        if conn.sock is not None:
            self.local_address = conn.sock.getsockname()[0]
        return conn

    def post(self, body: bytes, encoding: str) -> Dict[str, object]:
        headers = {"Content-Type": CONTENT_TYPES[encoding], "Connection": "keep-alive"}
        with self._lock:
            for attempt in (0, 1):
                reused = self._conn is not None
                try:
                    if self._conn is None:
                        self._conn = self._connect()
                    self._conn.request("POST", self.path, body=body, headers=headers)
                    resp = self._conn.getresponse()
                    data = resp.read(MAX_REPLY_BYTES + 1)
                    status, content_type = resp.status, resp.getheader("Content-Type", "")
                    if resp.will_close:
                        self._close_locked()
                    break
                except (OSError, http.client.HTTPException) as err:
                    self._close_locked()
                    if attempt == 0 and reused and isinstance(err, _IDLE_CLOSED):
                        continue
                    raise TransportError(f"HTTP exchange with {self.host}:{self.port} failed: {err}") from err
        if len(data) > MAX_REPLY_BYTES:
            raise ProtocolError("reply too large")
        if status != 200:
            raise TransportError(f"HTTP {status} from {self.host}:{self.port}{self.path}", status)
        return decode_reply(data, content_type)

    def _close_locked(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._close_locked()


class UdpTransport:
    """Fire-and-forget datagrams to the host's asynchronous binding (no reply, ever)."""

    def __init__(self, binding: str) -> None:
        self.address = split_host_port(binding)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(self, body: bytes) -> None:
        try:
            self._sock.sendto(body, self.address)
        except OSError as err:
            raise TransportError(f"UDP send to {self.address[0]}:{self.address[1]} failed: {err}") from err

    def close(self) -> None:
        self._sock.close()
