"""Callback endpoints: receive touch and position-update datagrams.

A listener binds a UDP socket on the address the host sees us at, registers it
with ``CreateEndPointRequest``, keeps it alive with ``RenewEndPointRequest`` and
hands every ``TouchCallback`` / ``UpdatedCallback`` datagram to user functions.
Closing it unregisters what it registered and closes the endpoint.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import queue
import socket
import threading
from types import TracebackType
from typing import Any, Awaitable, Callable, List, Optional, Sequence, Tuple, Type, Union

from .aio import AsyncClient
from .client import Client
from .messages import TOUCH_CALLBACK, UPDATED_CALLBACK, TouchEvent, UpdateEvent, UUIDLike

__all__ = ["EndpointListener", "AsyncEndpointListener", "Event", "parse_callback"]

log = logging.getLogger("opensim_dispatcher")

Event = Union[TouchEvent, UpdateEvent]
TouchHandler = Callable[[TouchEvent], Any]
UpdateHandler = Callable[[UpdateEvent], Any]

#: Requested endpoint lifetime; the host raises it to its MaxInterPingTime.
DEFAULT_LIFESPAN_MS = 10_000
# Renew three times per lifetime, so one lost renewal does not lose the endpoint.
RENEWALS_PER_LIFESPAN = 3
# Largest datagram we read; callbacks are small JSON documents.
MAX_DATAGRAM_BYTES = 65_535
# Events kept for next_event() before the oldest are dropped.
MAX_QUEUED_EVENTS = 1_000
# How often the receive loop looks at its stop flag.
POLL_INTERVAL_SECONDS = 0.2


def parse_callback(data: bytes) -> Optional[Event]:
    """Decode one callback datagram; ``None`` for anything unrecognised."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    kind = doc.get("$type")
    if kind == TOUCH_CALLBACK:
        touch: TouchEvent = TouchEvent.from_wire(doc)
        return touch
    if kind == UPDATED_CALLBACK:
        update: UpdateEvent = UpdateEvent.from_wire(doc)
        return update
    return None


class _Registrations:
    def __init__(self) -> None:
        self.touches: List[Tuple[str, str]] = []  # (object id, request id)
        self.updates: List[Tuple[List[str], str]] = []  # (object ids, request id)


class EndpointListener:
    """A thread-based listener for a blocking :class:`Client`.

    Handlers run on the listener's receive thread; every event is also queued
    for :meth:`next_event`.
    """

    def __init__(
        self,
        client: Client,
        *,
        on_touch: Optional[TouchHandler] = None,
        on_update: Optional[UpdateHandler] = None,
        lifespan_ms: int = DEFAULT_LIFESPAN_MS,
        bind_host: Optional[str] = None,
    ) -> None:
        self.client = client
        self.on_touch = on_touch
        self.on_update = on_update
        self.lifespan_ms = lifespan_ms
        self.bind_host = bind_host
        self.endpoint_id: Optional[str] = None
        self.port = 0
        self._events: "queue.Queue[Event]" = queue.Queue(MAX_QUEUED_EVENTS)
        self._regs = _Registrations()
        self._stop = threading.Event()
        self._threads: List[threading.Thread] = []
        self._sock: Optional[socket.socket] = None

    def start(self) -> "EndpointListener":
        if self.client.local_address is None:
            self.client.info()  # opens the connection, so we learn our address
        host = self.bind_host or self.client.local_address or "127.0.0.1"
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, 0))
        self._sock.settimeout(POLL_INTERVAL_SECONDS)
        self.port = self._sock.getsockname()[1]
        reply = self.client.create_end_point(callback_host=host, callback_port=self.port, life_span=self.lifespan_ms)
        self.endpoint_id = reply.end_point_id
        self.lifespan_ms = reply.life_span or self.lifespan_ms
        for target, name in ((self._receive_loop, "endpoint-receive"), (self._renew_loop, "endpoint-renew")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def watch_touches(self, object_id: UUIDLike) -> str:
        """Register for touches of an object; returns the registration's RequestID."""
        reply = self.client.register_touch_callback(object_id, self._endpoint())
        self._regs.touches.append((str(object_id), reply.request_id))
        return reply.request_id

    def watch_updates(self, object_ids: Sequence[UUIDLike]) -> str:
        """Register for position changes of objects; returns the RequestID.
        Unknown ids are reported by the host as warnings (``reply.message``)."""
        ids = [str(i) for i in object_ids]
        reply = self.client.register_updated_callback(list(ids), self._endpoint())
        self._regs.updates.append((ids, reply.request_id))
        return reply.request_id

    def next_event(self, timeout_seconds: Optional[float] = None) -> Optional[Event]:
        """The next received event, or ``None`` after the timeout."""
        try:
            return self._events.get(timeout=timeout_seconds)
        except queue.Empty:
            return None

    def _endpoint(self) -> str:
        if self.endpoint_id is None:
            raise RuntimeError("listener not started; call start() or use it as a context manager")
        return self.endpoint_id

    def _receive_loop(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                data, _ = self._sock.recvfrom(MAX_DATAGRAM_BYTES)
            except socket.timeout:
                continue
            except OSError:
                return
            event = parse_callback(data)
            if event is not None:
                self._deliver(event)

    def _deliver(self, event: Event) -> None:
        try:
            self._events.put_nowait(event)
        except queue.Full:
            self._events.get_nowait()
            self._events.put_nowait(event)
        handler: Optional[Callable[[Any], Any]] = self.on_touch if isinstance(event, TouchEvent) else self.on_update
        if handler is None:
            return
        try:
            handler(event)
        except Exception:  # a faulty handler must not stop the listener
            log.exception("callback handler failed")

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lifespan_ms / 1000 / RENEWALS_PER_LIFESPAN):
            try:
                self.client.renew_end_point(self._endpoint(), life_span=self.lifespan_ms)
            except Exception as err:
                log.warning("endpoint renewal failed: %s", err)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        if self.endpoint_id is not None:
            for object_id, request_id in self._regs.touches:
                _quietly(lambda: self.client.unregister_touch_callback(object_id, request_id))
            for object_ids, request_id in self._regs.updates:
                _quietly(lambda: self.client.unregister_updated_callback(list(object_ids), request_id))
            endpoint = self.endpoint_id
            _quietly(lambda: self.client.close_end_point(endpoint))
            self.endpoint_id = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "EndpointListener":
        return self.start() if self.endpoint_id is None else self

    def __exit__(
        self, kind: Optional[Type[BaseException]], value: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()


def _quietly(action: Callable[[], Any]) -> None:
    # Cleanup is best effort: the object may be gone or the endpoint expired.
    try:
        action()
    except Exception as err:
        log.debug("cleanup step failed: %s", err)


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, listener: "AsyncEndpointListener") -> None:
        self.listener = listener

    def datagram_received(self, data: bytes, addr: Any) -> None:
        event = parse_callback(data)
        if event is not None:
            self.listener._deliver(event)


AsyncHandler = Callable[[Any], Union[Any, Awaitable[Any]]]


class AsyncEndpointListener:
    """The asyncio listener: handlers may be plain or ``async`` functions."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        on_touch: Optional[AsyncHandler] = None,
        on_update: Optional[AsyncHandler] = None,
        lifespan_ms: int = DEFAULT_LIFESPAN_MS,
        bind_host: Optional[str] = None,
    ) -> None:
        self.client = client
        self.on_touch = on_touch
        self.on_update = on_update
        self.lifespan_ms = lifespan_ms
        self.bind_host = bind_host
        self.endpoint_id: Optional[str] = None
        self.port = 0
        self._events: "asyncio.Queue[Event]" = asyncio.Queue(MAX_QUEUED_EVENTS)
        self._regs = _Registrations()
        self._transport: Optional[asyncio.DatagramTransport] = None
        self._renewer: Optional["asyncio.Task[None]"] = None
        self._tasks: "set[asyncio.Task[Any]]" = set()

    async def start(self) -> "AsyncEndpointListener":
        if self.client.local_address is None:
            await self.client.info()
        host = self.bind_host or self.client.local_address or "127.0.0.1"
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(lambda: _Receiver(self), local_addr=(host, 0))
        self.port = self._transport.get_extra_info("sockname")[1]
        reply = await self.client.create_end_point(
            callback_host=host, callback_port=self.port, life_span=self.lifespan_ms
        )
        self.endpoint_id = reply.end_point_id
        self.lifespan_ms = reply.life_span or self.lifespan_ms
        self._renewer = asyncio.ensure_future(self._renew_loop())
        return self

    async def watch_touches(self, object_id: UUIDLike) -> str:
        reply = await self.client.register_touch_callback(object_id, self._endpoint())
        self._regs.touches.append((str(object_id), reply.request_id))
        return reply.request_id

    async def watch_updates(self, object_ids: Sequence[UUIDLike]) -> str:
        ids = [str(i) for i in object_ids]
        reply = await self.client.register_updated_callback(list(ids), self._endpoint())
        self._regs.updates.append((ids, reply.request_id))
        return reply.request_id

    async def next_event(self, timeout_seconds: Optional[float] = None) -> Optional[Event]:
        try:
            return await asyncio.wait_for(self._events.get(), timeout_seconds)
        except asyncio.TimeoutError:
            return None

    def _endpoint(self) -> str:
        if self.endpoint_id is None:
            raise RuntimeError("listener not started; await start() or use it with 'async with'")
        return self.endpoint_id

    def _deliver(self, event: Event) -> None:
        if self._events.full():
            self._events.get_nowait()
        self._events.put_nowait(event)
        handler = self.on_touch if isinstance(event, TouchEvent) else self.on_update
        if handler is None:
            return
        try:
            result = handler(event)
        except Exception:
            log.exception("callback handler failed")
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._handler_done)

    def _handler_done(self, task: "asyncio.Task[Any]") -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("callback handler failed: %r", task.exception())

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lifespan_ms / 1000 / RENEWALS_PER_LIFESPAN)
            try:
                await self.client.renew_end_point(self._endpoint(), life_span=self.lifespan_ms)
            except Exception as err:
                log.warning("endpoint renewal failed: %s", err)

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            try:
                await self._renewer
            except (asyncio.CancelledError, Exception):
                pass
            self._renewer = None
        if self.endpoint_id is not None:
            for object_id, request_id in self._regs.touches:
                await _aquietly(self.client.unregister_touch_callback(object_id, request_id))
            for object_ids, request_id in self._regs.updates:
                await _aquietly(self.client.unregister_updated_callback(list(object_ids), request_id))
            await _aquietly(self.client.close_end_point(self.endpoint_id))
            self.endpoint_id = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for task in list(self._tasks):
            task.cancel()

    async def __aenter__(self) -> "AsyncEndpointListener":
        return await self.start() if self.endpoint_id is None else self

    async def __aexit__(
        self, kind: Optional[Type[BaseException]], value: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.close()


async def _aquietly(action: Awaitable[Any]) -> None:
    try:
        await action
    except Exception as err:
        log.debug("cleanup step failed: %s", err)
