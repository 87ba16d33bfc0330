"""The blocking client."""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any, Dict, Mapping, Optional, Sequence, Type

from . import codec
from ._api import SyncApi
from .auth import DEFAULT_DOMAINS, DEFAULT_LIFESPAN_SECONDS, Credentials
from .errors import RequestFailed
from .messages import (
    _lookup,
    CapabilityResponse,
    DestroyCapabilityRequest,
    GenericRequest,
    RenewCapabilityRequest,
    Request,
    Response,
)
from .transport import HttpTransport, UdpTransport

__all__ = ["Client", "parse_reply"]

log = logging.getLogger("opensim_dispatcher")

# Renew when this fraction of the granted lifespan has passed, so one lost
# renewal still leaves time for the next before the capability expires.
RENEW_AT_FRACTION = 0.5
# Never renew more often than this, whatever the server grants.
MIN_RENEW_INTERVAL_SECONDS = 1.0


def parse_reply(request: Request, reply: Dict[str, Any]) -> Response:
    """Raise :class:`RequestFailed` on ``_Success`` 0, else build the typed reply."""
    success = _lookup(reply, "_Success") or 0
    if not success:
        raise RequestFailed.from_reply(reply, request.TYPE)
    if success == 2:
        return Response.from_wire(reply)
    typed: Response = request.RESPONSE.from_wire(reply)
    return typed


class Client(SyncApi):
    """A blocking Dispatcher client over HTTP (JSON or BSON) with optional UDP.

    Use :meth:`connect` to authenticate; the capability is then renewed in a
    background thread and destroyed by :meth:`close` (or by leaving a ``with``
    block). Every per-message method (``get_object_position``, ``chat``, …)
    raises :class:`RequestFailed` when the server answers with a failure.
    """

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
        self._http = HttpTransport(url, timeout_seconds)
        self._udp: Optional[UdpTransport] = None
        self._stop_renewal = threading.Event()
        self._renewer: Optional[threading.Thread] = None

    # ----- connection life cycle ---------------------------------------------------

    @classmethod
    def connect(
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
    ) -> "Client":
        """Create a client, pick the scene (the host's first when not given) and authenticate."""
        client = cls(url, scene=scene, encoding=encoding, timeout_seconds=timeout_seconds)
        try:
            if client.scene is None:
                scenes = client.info().scene_list
                client.scene = scenes[0] if scenes else ""
            client.authenticate(credentials, domains=domains, lifespan_seconds=lifespan_seconds, renew=renew)
        except BaseException:
            client.close()
            raise
        return client

    def authenticate(
        self,
        credentials: Credentials,
        *,
        domains: Sequence[str] = DEFAULT_DOMAINS,
        lifespan_seconds: int = DEFAULT_LIFESPAN_SECONDS,
        renew: bool = True,
    ) -> CapabilityResponse:
        reply = self.send(credentials.request(domains, lifespan_seconds))
        assert isinstance(reply, CapabilityResponse)
        self.capability = reply.capability
        self.lifespan_seconds = reply.life_span
        if renew:
            self._start_renewal(lifespan_seconds)
        return reply

    def _start_renewal(self, requested_seconds: int) -> None:
        self._stop_renewal.clear()
        self._renewer = threading.Thread(
            target=self._renew_loop, args=(requested_seconds,), name="capability-renewal", daemon=True
        )
        self._renewer.start()

    def _renew_loop(self, requested_seconds: int) -> None:
        while True:
            interval = max(MIN_RENEW_INTERVAL_SECONDS, self.lifespan_seconds * RENEW_AT_FRACTION)
            if self._stop_renewal.wait(interval):
                return
            try:
                reply = self.send(RenewCapabilityRequest(life_span=requested_seconds))
                assert isinstance(reply, CapabilityResponse)
                self.lifespan_seconds = reply.life_span
                self.renewal_error = None
            except Exception as err:  # keep trying: the next attempt may succeed
                self.renewal_error = err
                log.warning("capability renewal failed: %s", err)

    def close(self) -> None:
        """Stop renewing, destroy the capability (best effort) and close sockets."""
        self._stop_renewal.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
            self._renewer = None
        if self.capability:
            try:
                self.send(DestroyCapabilityRequest())
            except Exception as err:  # closing must not fail because the host is gone
                log.debug("destroying the capability failed: %s", err)
            self.capability = None
        self._http.close()
        if self._udp is not None:
            self._udp.close()
            self._udp = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(
        self, kind: Optional[Type[BaseException]], value: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()

    # ----- sending -----------------------------------------------------------------

    @property
    def local_address(self) -> Optional[str]:
        """The address the host sees our requests come from (used for endpoints)."""
        return self._http.local_address

    def send(self, request: Request) -> Any:
        """Send one request over HTTP and return its typed reply."""
        wire = codec.envelope(request, self.scene, self.capability)
        reply = self._http.post(codec.encode(wire, self.encoding), self.encoding)
        return parse_reply(request, reply)

    def send_queued(self, request: Request) -> Response:
        """Send over HTTP with ``_AsyncRequest``: the host replies "queued" at once
        and runs the request later (its real reply is discarded)."""
        wire = codec.envelope(request, self.scene, self.capability, asynchronous=True)
        reply = self._http.post(codec.encode(wire, self.encoding), self.encoding)
        return parse_reply(request, reply)

    def send_packet(self, request: Request) -> None:
        """Fire a request as one UDP datagram (JSON; no reply, errors only logged
        by the host). Meant for high-rate dynamics such as ``BulkDynamicsRequest``."""
        if self._udp is None:
            self._udp = UdpTransport(self.info().async_endpoint)
        wire = codec.envelope(request, self.scene, self.capability, asynchronous=True)
        self._udp.send(codec.encode(wire, codec.JSON))

    def call(
        self, type_name: str, members: Optional[Mapping[str, Any]] = None, *, domain: Optional[str] = None
    ) -> Dict[str, Any]:
        """Send any request by its ``$type`` (an extension's, for instance) and
        return the reply's members as decoded (``$type``, ``_Success`` and the
        rest). ``domain`` defaults to the type's first part, which must be in the
        capability's domains (``Client.connect(..., domains=[..., "Leaderboard"])``).
        Raises :class:`RequestFailed` on a failure reply."""
        reply = self.send(GenericRequest(type_name=type_name, members=dict(members or {}), domain=domain))
        return dict(reply.raw)

    def offers(self, type_name: str) -> bool:
        """Whether the host has a handler for a message type in our scene."""
        return self.info().offers(type_name, self.scene)
