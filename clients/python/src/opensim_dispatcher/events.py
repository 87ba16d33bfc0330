"""The live event stream: a WebSocket on ``<Dispatcher path>events``.

Beside the UDP :class:`~opensim_dispatcher.EndpointListener`, an event stream
receives a region's object changes, touches and chat over one TCP connection
(docs/live.md). It subscribes with the client's capability and scene; a
refused subscription raises :class:`RequestFailed`. Frames are returned as the
decoded JSON objects the host sends (``$type`` ``ObjectSnapshot``,
``ObjectUpdated``, ``TouchCallback``, ``ChatEvent``; any may carry
``Dropped``). When the capability ends the host sends a Failure frame and
closes: :attr:`EventStream.failure` then holds it.

The WebSocket client is the standard library's sockets plus RFC 6455 framing
(text frames, fragmentation, ping/pong, close), so nothing is installed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import socket
import ssl
import struct
from types import TracebackType
from typing import Any, AsyncIterator, Dict, Iterator, List, Optional, Sequence, Tuple, Type
from urllib.parse import urlsplit

from .aio import AsyncClient
from .client import Client
from .errors import ProtocolError, RequestFailed, TransportError

__all__ = ["EventStream", "AsyncEventStream", "TOPICS", "DEFAULT_TOPICS", "events_url"]

#: The topics a stream may subscribe to (docs/live.md).
TOPICS: Tuple[str, ...] = ("objects", "touch", "chat", "scripts", "script-logs")
#: The topics subscribed when none are given: the region's objects, touches
#: and chat, which a capability for the RemoteControl domain may see
#: (``scripts`` and ``script-logs`` need the Scripting domain as well).
DEFAULT_TOPICS: Tuple[str, ...] = ("objects", "touch", "chat")
SUBSCRIBE = "Dispatcher.Messages.SubscribeRequest"
SUBSCRIBED = "Dispatcher.Messages.SubscribeResponse"
# RFC 6455 §1.3.
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# Largest message accepted from the host (a snapshot frame holds 500 objects).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# Longest handshake response accepted.
MAX_HEADER_BYTES = 16 * 1024

_TEXT, _BINARY, _CLOSE, _PING, _PONG, _CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0

Frame = Dict[str, Any]


def events_url(dispatcher_url: str) -> Tuple[str, str, int, str]:
    """(scheme, host, port, path) of the event stream beside a Dispatcher URL."""
    parts = urlsplit(dispatcher_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) Dispatcher URL: {dispatcher_url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/").rstrip("/") + "/events"
    return parts.scheme, parts.hostname, port, path


def _handshake_request(host: str, port: int, path: str) -> Tuple[bytes, str]:
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    return request.encode("ascii"), key


def _check_handshake(head: bytes, key: str) -> None:
    lines = head.decode("iso-8859-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or status[1] != "101":
        raise TransportError(f"event stream refused: {lines[0]}", int(status[1]) if len(status) > 1 and status[1].isdigit() else None)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    expected = base64.b64encode(hashlib.sha1((key + _GUID).encode("ascii")).digest()).decode("ascii")
    if headers.get("sec-websocket-accept") != expected:
        raise ProtocolError("event stream handshake: wrong Sec-WebSocket-Accept")


def _frame(opcode: int, payload: bytes) -> bytes:
    """One masked client frame (RFC 6455 §5.2)."""
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def _subscribe_frame(capability: Optional[str], scene: Optional[str], topics: Sequence[str], object_ids: Sequence[str]) -> bytes:
    request = {
        "$type": SUBSCRIBE,
        "_Capability": capability or "00000000-0000-0000-0000-000000000000",
        "_Scene": scene or "",
        "Topics": list(topics),
        "ObjectIDs": [str(o) for o in object_ids],
    }
    return _frame(_TEXT, json.dumps(request).encode("utf-8"))


def _decode(payload: bytes) -> Frame:
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ProtocolError(f"event stream frame is not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise ProtocolError("event stream frame is not a JSON object")
    return doc


def _is_failure(frame: Frame) -> bool:
    return frame.get("_Success") == 0


class _Reader:
    """Frame parsing over a byte source; the source returns exactly n bytes or raises EOFError."""

    def __init__(self) -> None:
        self.fragments: List[bytes] = []
        self.size = 0

    @staticmethod
    def header(two: bytes) -> Tuple[bool, int, bool, int]:
        fin = bool(two[0] & 0x80)
        opcode = two[0] & 0x0F
        masked = bool(two[1] & 0x80)
        return fin, opcode, masked, two[1] & 0x7F

    def add(self, fin: bool, opcode: int, payload: bytes) -> Optional[Tuple[int, bytes]]:
        """A whole data message when ``fin``; control frames pass straight through."""
        if opcode >= 0x8:
            return opcode, payload
        self.size += len(payload)
        if self.size > MAX_MESSAGE_BYTES:
            raise ProtocolError("event stream message too large")
        self.fragments.append(payload)
        if not fin:
            return None
        message = b"".join(self.fragments)
        self.fragments, self.size = [], 0
        return _TEXT, message


class EventStream:
    """A blocking event-stream subscriber.

    >>> with EventStream(client, ["objects", "chat"]) as stream:   # doctest: +SKIP
    ...     for frame in stream:
    ...         print(frame["$type"])
    """

    def __init__(
        self,
        client: Client,
        topics: Sequence[str] = DEFAULT_TOPICS,
        *,
        object_ids: Sequence[str] = (),
        timeout_seconds: float = 30.0,
    ) -> None:
        scheme, host, port, path = events_url(client.url)
        self.failure: Optional[Frame] = None
        self.closed = False
        self._reader = _Reader()
        try:
            sock = socket.create_connection((host, port), timeout=timeout_seconds)
        except OSError as e:
            raise TransportError(f"cannot reach the event stream at {host}:{port}: {e}") from e
        if scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        self._sock = sock
        try:
            request, key = _handshake_request(host, port, path)
            sock.sendall(request)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(1024)
                if not chunk or len(head) > MAX_HEADER_BYTES:
                    raise TransportError("event stream handshake: no response")
                head += chunk
            head, _, rest = head.partition(b"\r\n\r\n")
            _check_handshake(head, key)
            self._buffer = rest
            sock.sendall(_subscribe_frame(client.capability, client.scene, topics, object_ids))
            reply = self._read_frame()
            if reply is None:
                raise TransportError("event stream closed before the subscription was answered")
            if _is_failure(reply):
                raise RequestFailed.from_reply(reply, SUBSCRIBE)
            if reply.get("$type") != SUBSCRIBED:
                raise ProtocolError(f"unexpected subscription reply {reply.get('$type')!r}")
            #: The SubscribeResponse (``Topics``, ``ObjectIDs``, ``Scene``).
            self.response: Frame = reply
        except BaseException:
            self._close_socket()
            raise

    def _fill(self, n: int) -> None:
        """Make the buffer hold at least ``n`` bytes (a timeout leaves it as it is)."""
        while len(self._buffer) < n:
            chunk = self._sock.recv(max(65536, n - len(self._buffer)))
            if not chunk:
                raise EOFError
            self._buffer += chunk

    def _take_frame(self) -> Tuple[bool, int, bytes]:
        """One whole frame, consumed from the buffer only once all of it is there."""
        self._fill(2)
        fin, opcode, masked, length = _Reader.header(self._buffer[:2])
        start = 2
        if length == 126:
            self._fill(4)
            (length,) = struct.unpack("!H", self._buffer[2:4])
            start = 4
        elif length == 127:
            self._fill(10)
            (length,) = struct.unpack("!Q", self._buffer[2:10])
            start = 10
        if length > MAX_MESSAGE_BYTES:
            raise ProtocolError("event stream frame too large")
        if masked:
            start += 4
        self._fill(start + length)
        mask = self._buffer[start - 4 : start] if masked else b""
        payload = self._buffer[start : start + length]
        self._buffer = self._buffer[start + length :]
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return fin, opcode, payload

    def _read_frame(self) -> Optional[Frame]:
        """The next data frame; ``None`` once the stream has closed."""
        while not self.closed:
            try:
                fin, opcode, payload = self._take_frame()
            except EOFError:
                self._close_socket()
                return None
            whole = self._reader.add(fin, opcode, payload)
            if whole is None:
                continue
            kind, data = whole
            if kind == _PING:
                self._send(_PONG, data)
            elif kind == _CLOSE:
                self._send(_CLOSE, data[:2])
                self._close_socket()
                return None
            elif kind == _TEXT:
                frame = _decode(data)
                if _is_failure(frame):
                    self.failure = frame
                return frame
        return None

    def _send(self, opcode: int, payload: bytes) -> None:
        try:
            self._sock.sendall(_frame(opcode, payload))
        except OSError:
            pass

    def next_event(self, timeout_seconds: Optional[float] = None) -> Optional[Frame]:
        """The next frame, or ``None`` after ``timeout_seconds`` or once closed (see :attr:`closed`)."""
        if self.closed:
            return None
        self._sock.settimeout(timeout_seconds)
        try:
            return self._read_frame()
        except socket.timeout:
            return None
        except OSError:
            self._close_socket()
            return None

    def __iter__(self) -> Iterator[Frame]:
        while True:
            frame = self.next_event()
            if frame is None:
                return
            yield frame

    def _close_socket(self) -> None:
        self.closed = True
        try:
            self._sock.close()
        except OSError:
            pass

    def close(self) -> None:
        """Send a close frame and drop the connection."""
        if not self.closed:
            self._send(_CLOSE, struct.pack("!H", 1000))
            self._close_socket()

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        self.close()


class AsyncEventStream:
    """The asyncio twin of :class:`EventStream`: ``await AsyncEventStream.open(client, topics)``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._r = reader
        self._w = writer
        self._reader = _Reader()
        self.failure: Optional[Frame] = None
        self.closed = False
        self.response: Frame = {}
        # Frames read by the pump task; None marks the end.
        self._frames: "asyncio.Queue[Optional[Frame]]" = asyncio.Queue()
        self._pump_task: Optional["asyncio.Task[None]"] = None

    @classmethod
    async def open(
        cls,
        client: AsyncClient,
        topics: Sequence[str] = DEFAULT_TOPICS,
        *,
        object_ids: Sequence[str] = (),
        timeout_seconds: float = 30.0,
    ) -> "AsyncEventStream":
        scheme, host, port, path = events_url(client.url)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=ssl.create_default_context() if scheme == "https" else None),
                timeout_seconds,
            )
        except (OSError, asyncio.TimeoutError) as e:
            raise TransportError(f"cannot reach the event stream at {host}:{port}: {e}") from e
        stream = cls(reader, writer)
        try:
            request, key = _handshake_request(host, port, path)
            writer.write(request)
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout_seconds)
            _check_handshake(head[:-4], key)
            writer.write(_subscribe_frame(client.capability, client.scene, topics, object_ids))
            await writer.drain()
            reply = await asyncio.wait_for(stream._read_frame(), timeout_seconds)
            if reply is None:
                raise TransportError("event stream closed before the subscription was answered")
            if _is_failure(reply):
                raise RequestFailed.from_reply(reply, SUBSCRIBE)
            if reply.get("$type") != SUBSCRIBED:
                raise ProtocolError(f"unexpected subscription reply {reply.get('$type')!r}")
            stream.response = reply
            stream._pump_task = asyncio.ensure_future(stream._pump())
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError) as e:
            await stream.close()
            raise TransportError(f"event stream handshake failed: {e}") from e
        except BaseException:
            await stream.close()
            raise
        return stream

    async def _read_frame(self) -> Optional[Frame]:
        while not self.closed:
            try:
                fin, opcode, masked, length = _Reader.header(await self._r.readexactly(2))
                if length == 126:
                    (length,) = struct.unpack("!H", await self._r.readexactly(2))
                elif length == 127:
                    (length,) = struct.unpack("!Q", await self._r.readexactly(8))
                if length > MAX_MESSAGE_BYTES:
                    raise ProtocolError("event stream frame too large")
                mask = await self._r.readexactly(4) if masked else b""
                payload = await self._r.readexactly(length)
            except (asyncio.IncompleteReadError, OSError):
                await self._drop()
                return None
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            whole = self._reader.add(fin, opcode, payload)
            if whole is None:
                continue
            kind, data = whole
            if kind == _PING:
                await self._send(_PONG, data)
            elif kind == _CLOSE:
                await self._send(_CLOSE, data[:2])
                await self._drop()
                return None
            elif kind == _TEXT:
                frame = _decode(data)
                if _is_failure(frame):
                    self.failure = frame
                return frame
        return None

    async def _send(self, opcode: int, payload: bytes) -> None:
        try:
            self._w.write(_frame(opcode, payload))
            await self._w.drain()
        except OSError:
            pass

    async def _pump(self) -> None:
        """Read frames whole into the queue, so a caller's timeout never cuts one."""
        try:
            while True:
                frame = await self._read_frame()
                await self._frames.put(frame)
                if frame is None:
                    return
        except ProtocolError:
            await self._drop()
            await self._frames.put(None)

    async def next_event(self, timeout_seconds: Optional[float] = None) -> Optional[Frame]:
        """The next frame, or ``None`` after ``timeout_seconds`` or once closed (see :attr:`closed`)."""
        if self._frames.empty() and self.closed:
            return None
        try:
            frame = await asyncio.wait_for(self._frames.get(), timeout_seconds)
        except asyncio.TimeoutError:
            return None
        if frame is None:
            # Keep the end marker for later calls.
            await self._frames.put(None)
        return frame

    def __aiter__(self) -> AsyncIterator[Frame]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Frame]:
        while True:
            frame = await self.next_event()
            if frame is None:
                return
            yield frame

    async def _drop(self) -> None:
        self.closed = True
        self._w.close()
        try:
            await self._w.wait_closed()
        except OSError:
            pass

    async def close(self) -> None:
        if not self.closed:
            await self._send(_CLOSE, struct.pack("!H", 1000))
            await self._drop()
        if self._pump_task is not None and not self._pump_task.done():
            self._pump_task.cancel()

    async def __aenter__(self) -> "AsyncEventStream":
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        await self.close()

