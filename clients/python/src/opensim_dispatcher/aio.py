"""The asyncio client: the same messages over stdlib asyncio streams."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Type

from . import codec
from ._api import AsyncApi
from .auth import DEFAULT_DOMAINS, DEFAULT_LIFESPAN_SECONDS, Credentials
from .client import MIN_RENEW_INTERVAL_SECONDS, RENEW_AT_FRACTION, parse_reply
from .errors import ProtocolError, TransportError
from .messages import (
    CapabilityResponse,
    DestroyCapabilityRequest,
    GenericRequest,
    RenewCapabilityRequest,
    Request,
    Response,
)
from .transport import MAX_REPLY_BYTES, split_host_port, split_url

__all__ = ["AsyncClient", "AsyncHttpTransport"]

log = logging.getLogger("opensim_dispatcher")

# A kept-alive stream the server closed while idle: EOF before any reply byte,
# a reset, or a broken pipe.
_IDLE_CLOSED = (asyncio.IncompleteReadError, BrokenPipeError, ConnectionResetError)

# Cap on one header line and on the header count, so a broken peer cannot make
# us buffer without end.
MAX_HEADER_LINE_BYTES = 8192
MAX_HEADER_COUNT = 100


class AsyncHttpTransport:
    """A minimal HTTP/1.1 client on one kept-alive asyncio stream."""

    def __init__(self, url: str, timeout_seconds: float = 30.0) -> None:
        self.host, self.port, self.path = split_url(url)
        self.timeout_seconds = timeout_seconds
        self.local_address: Optional[str] = None
        self._streams: Optional[Tuple[asyncio.StreamReader, asyncio.StreamWriter]] = None
        self._lock = asyncio.Lock()
        self._reply_started = False

    async def post(self, body: bytes, encoding: str) -> Dict[str, Any]:
        async with self._lock:
            for attempt in (0, 1):
                reused = self._streams is not None
                try:
                    status, headers, data = await asyncio.wait_for(self._exchange(body, encoding), self.timeout_seconds)
                    break
                except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ProtocolError) as err:
                    await self._close_locked()
                    # Retry only when a reused connection had been closed while
                    # idle (see HttpTransport): the request never reached a handler.
                    if attempt == 0 and reused and not self._reply_started and isinstance(err, _IDLE_CLOSED):
                        continue
                    raise TransportError(f"HTTP exchange with {self.host}:{self.port} failed: {err!r}") from err
            if headers.get("connection", "").lower() == "close":
                await self._close_locked()
        if status != 200:
            raise TransportError(f"HTTP {status} from {self.host}:{self.port}{self.path}", status)
        return codec.decode_reply(data, headers.get("content-type", ""))

    async def _exchange(self, body: bytes, encoding: str) -> Tuple[int, Dict[str, str], bytes]:
        if self._streams is None:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            sockname = writer.get_extra_info("sockname")
            self.local_address = sockname[0] if sockname else None
            self._streams = (reader, writer)
        reader, writer = self._streams
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: {codec.CONTENT_TYPES[encoding]}\r\nContent-Length: {len(body)}\r\n"
            "Connection: keep-alive\r\n\r\n"
        )
        self._reply_started = False
        writer.write(head.encode("ascii") + body)
        await writer.drain()
        status_line = await self._line(reader)
        self._reply_started = True
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise ProtocolError(f"bad HTTP status line {status_line!r}")
        headers: Dict[str, str] = {}
        while True:
            line = await self._line(reader)
            if not line:
                break
            if len(headers) >= MAX_HEADER_COUNT:
                raise ProtocolError("too many HTTP headers")
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers, await self._body(reader, headers)

    @staticmethod
    async def _line(reader: asyncio.StreamReader) -> str:
        raw = await reader.readuntil(b"\n")
        if len(raw) > MAX_HEADER_LINE_BYTES:
            raise ProtocolError("HTTP header line too long")
        return raw.decode("latin-1").rstrip("\r\n")

    async def _body(self, reader: asyncio.StreamReader, headers: Dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks: List[bytes] = []
            total = 0
            while True:
                size_text = (await self._line(reader)).split(";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError as err:
                    raise ProtocolError(f"bad chunk size {size_text!r}") from err
                if size == 0:
                    while await self._line(reader):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_REPLY_BYTES:
                    raise ProtocolError("reply too large")
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
        length_text = headers.get("content-length")
        if length_text is None:
            headers["connection"] = "close"  # body ends at EOF, so the stream is spent
            data = await reader.read(MAX_REPLY_BYTES + 1)
        else:
            if not length_text.isdigit() or int(length_text) > MAX_REPLY_BYTES:
                raise ProtocolError(f"bad Content-Length {length_text!r}")
            data = await reader.readexactly(int(length_text))
        if len(data) > MAX_REPLY_BYTES:
            raise ProtocolError("reply too large")
        return data

    async def _close_locked(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    async def close(self) -> None:
        async with self._lock:
            await self._close_locked()


class _DatagramSender(asyncio.DatagramProtocol):
    pass


class AsyncClient(AsyncApi):
    """The asyncio twin of :class:`~opensim_dispatcher.Client` (same methods, awaited)."""

    def __init__(
        self,
        url: str,
        *,
        scene: Optional[str] = None,
        capability: Optional[str] = None,
        encoding: str = codec.JSON,
        timeout_seconds: float = 30.0,
    ) -> None:
        if encoding not in codec.CONTENT_TYPES:
            raise ValueError(f"encoding must be 'json' or 'bson', not {encoding!r}")
        self.url = url
        self.scene = scene
        self.capability = capability
        self.encoding = encoding
        self.lifespan_seconds = 0
        self.renewal_error: Optional[Exception] = None
        self._http = AsyncHttpTransport(url, timeout_seconds)
        self._udp: Optional[asyncio.DatagramTransport] = None
        self._renewer: Optional["asyncio.Task[None]"] = None

    @classmethod
    async def connect(
        cls,
        url: str,
        credentials: Credentials,
        *,
        scene: Optional[str] = None,
        domains: Sequence[str] = DEFAULT_DOMAINS,
        lifespan_seconds: int = DEFAULT_LIFESPAN_SECONDS,
        encoding: str = codec.JSON,
        renew: bool = True,
        timeout_seconds: float = 30.0,
    ) -> "AsyncClient":
        client = cls(url, scene=scene, encoding=encoding, timeout_seconds=timeout_seconds)
        try:
            if client.scene is None:
                scenes = (await client.info()).scene_list
                client.scene = scenes[0] if scenes else ""
            await client.authenticate(credentials, domains=domains, lifespan_seconds=lifespan_seconds, renew=renew)
        except BaseException:
            await client.close()
            raise
        return client

    async def authenticate(
        self,
        credentials: Credentials,
        *,
        domains: Sequence[str] = DEFAULT_DOMAINS,
        lifespan_seconds: int = DEFAULT_LIFESPAN_SECONDS,
        renew: bool = True,
    ) -> CapabilityResponse:
        reply = await self.send(credentials.request(domains, lifespan_seconds))
        assert isinstance(reply, CapabilityResponse)
        self.capability = reply.capability
        self.lifespan_seconds = reply.life_span
        if renew:
            self._renewer = asyncio.ensure_future(self._renew_loop(lifespan_seconds))
        return reply

    async def _renew_loop(self, requested_seconds: int) -> None:
        while True:
            await asyncio.sleep(max(MIN_RENEW_INTERVAL_SECONDS, self.lifespan_seconds * RENEW_AT_FRACTION))
            try:
                reply = await self.send(RenewCapabilityRequest(life_span=requested_seconds))
                self.lifespan_seconds = reply.life_span
                self.renewal_error = None
            except Exception as err:  # keep trying
                self.renewal_error = err
                log.warning("capability renewal failed: %s", err)

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            try:
                await self._renewer
            except (asyncio.CancelledError, Exception):
                pass
            self._renewer = None
        if self.capability:
            try:
                await self.send(DestroyCapabilityRequest())
            except Exception as err:
                log.debug("destroying the capability failed: %s", err)
            self.capability = None
        await self._http.close()
        if self._udp is not None:
            self._udp.close()
            self._udp = None

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(
        self, kind: Optional[Type[BaseException]], value: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.close()

    @property
    def local_address(self) -> Optional[str]:
        return self._http.local_address

    async def send(self, request: Request) -> Any:
        wire = codec.envelope(request, self.scene, self.capability)
        reply = await self._http.post(codec.encode(wire, self.encoding), self.encoding)
        return parse_reply(request, reply)

    async def send_queued(self, request: Request) -> Response:
        wire = codec.envelope(request, self.scene, self.capability, asynchronous=True)
        reply = await self._http.post(codec.encode(wire, self.encoding), self.encoding)
        return parse_reply(request, reply)

    async def send_packet(self, request: Request) -> None:
        if self._udp is None:
            address = split_host_port((await self.info()).async_endpoint)
            loop = asyncio.get_running_loop()
            self._udp, _ = await loop.create_datagram_endpoint(_DatagramSender, remote_addr=address)
        wire = codec.envelope(request, self.scene, self.capability, asynchronous=True)
        self._udp.sendto(codec.encode(wire, codec.JSON))

    async def call(
        self, type_name: str, members: Optional[Mapping[str, Any]] = None, *, domain: Optional[str] = None
    ) -> Dict[str, Any]:
        """Send any request by its ``$type`` and return the reply's members (see ``Client.call``)."""
        reply = await self.send(GenericRequest(type_name=type_name, members=dict(members or {}), domain=domain))
        return dict(reply.raw)

    async def offers(self, type_name: str) -> bool:
        return (await self.info()).offers(type_name, self.scene)
