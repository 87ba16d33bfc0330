"""The Dispatcher domain against a real host (dispatcher-core.md §6)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from conftest import GOD, MANAGER, PASSWORD, REGION, VISITOR, Host

from opensim_dispatcher import (
    AsyncClient,
    AsyncEndpointListener,
    Client,
    Credentials,
    EndpointListener,
    RequestFailed,
    TransportError,
    Unauthorized,
)
from opensim_dispatcher.messages import CloseEndPointRequest, RenewCapabilityRequest

CORE_KEYS = [
    "Dispatcher::Dispatcher.Messages.RenewCapabilityRequest",
    "Dispatcher::Dispatcher.Messages.DestroyCapabilityRequest",
    "Dispatcher::Dispatcher.Messages.CreateEndPointRequest",
    "Dispatcher::Dispatcher.Messages.RenewEndPointRequest",
    "Dispatcher::Dispatcher.Messages.CloseEndPointRequest",
]


@pytest.mark.parametrize("encoding", ["json", "bson"])
def test_info_lists_bindings_scenes_and_core_messages(host: Host, encoding: str) -> None:
    with Client(host.url, encoding=encoding) as client:
        info = client.info()
    assert info.type_name == "Dispatcher.Messages.InfoResponse"
    assert info.synch_endpoint == host.url
    assert info.async_endpoint == host.udp
    assert REGION in info.scene_list
    for key in CORE_KEYS:
        assert key in info.message_list
    assert info.offers("Dispatcher.Messages.CloseEndPointRequest")


@pytest.mark.parametrize("encoding", ["json", "bson"])
def test_message_format_returns_a_parsed_sample(host: Host, encoding: str) -> None:
    with Client(host.url, encoding=encoding) as client:
        reply = client.message_format("Dispatcher.Messages.CreateEndPointRequest")
        assert reply.sample["$type"] == "Dispatcher.Messages.CreateEndPointRequest"
        assert reply.sample["LifeSpan"] == 0 and reply.sample["CallbackHost"] == ""
        with pytest.raises(RequestFailed) as err:
            client.message_format("Foo.BarRequest")
    assert err.value.message == "unknown type"


def test_connect_picks_the_first_scene_and_close_destroys_the_capability(host: Host) -> None:
    client = Client.connect(host.url, Credentials.from_name("Ada Lovelace", PASSWORD))
    assert client.scene == REGION
    capability = client.capability
    assert capability and client.lifespan_seconds == 300
    client.close()
    with Client(host.url, scene=REGION, capability=capability) as stale:
        with pytest.raises(Unauthorized) as err:
            stale.renew_capability(life_span=60)
    assert err.value.message == "Unauthorized invocation; no such capability"


def test_capability_by_email_and_by_user_id(host: Host) -> None:
    for creds in (Credentials(password=PASSWORD, email="bob@example.org"),
                  Credentials(password=PASSWORD, user_id=host.ids["Bob"])):
        with Client.connect(host.url, creds, scene=REGION, renew=False) as client:
            assert client.renew_capability(life_span=60).capability == client.capability


def test_wrong_password_and_unauthorised_accounts_fail_with_the_protocol_text(host: Host) -> None:
    with pytest.raises(RequestFailed) as err:
        Client.connect(host.url, Credentials.from_name("Ada Lovelace", "wrong"), scene=REGION)
    assert err.value.message == f"failed to authenticate user {host.ids['Ada']}"
    with pytest.raises(RequestFailed) as err:
        host.connect(VISITOR)
    assert err.value.message == f"user {host.ids['Carol']} is not authorized to access this interface"
    with pytest.raises(RequestFailed) as err:
        Client.connect(host.url, Credentials.from_name("Ada Lovelace", PASSWORD), scene="Nowhere")
    assert err.value.message == "no scene specified"


def test_estate_manager_is_allowed_and_god_is_not_by_default(host: Host) -> None:
    with host.connect(MANAGER) as client:
        assert client.capability
    with pytest.raises(RequestFailed):
        host.connect(GOD)


def test_renew_capability_clamps_and_keeps_the_id(client: Client) -> None:
    reply = client.renew_capability(life_span=3600)
    assert reply.capability == client.capability and reply.life_span == 300
    assert client.renew_capability(life_span=42).life_span == 42
    with pytest.raises(RequestFailed) as err:
        client.renew_capability(life_span=-5)
    assert err.value.message == "lifespan must be greater than 0 -5"


def test_background_renewal_keeps_an_idle_capability_alive(host: Host) -> None:
    # Granted 2 s of idle lifetime: without renewal it would expire during the sleep.
    with host.connect(lifespan_seconds=2) as client:
        assert client.lifespan_seconds == 2
        time.sleep(4.5)
        assert client.renewal_error is None
        assert client.renew_capability(life_span=2).capability == client.capability


def test_without_renewal_an_idle_capability_expires(host: Host) -> None:
    with host.connect(lifespan_seconds=1, renew=False) as client:
        time.sleep(2.5)
        with pytest.raises(Unauthorized):
            client.renew_capability(life_span=1)


@pytest.mark.parametrize("encoding", ["json", "bson"])
def test_endpoint_create_renew_close(host: Host, encoding: str) -> None:
    with host.connect(encoding=encoding) as client:
        created = client.create_end_point("127.0.0.1", 40000, life_span=5000)
        assert created.type_name == "Dispatcher.Messages.CreateEndPointResponse"
        assert created.life_span == 5000
        renewed = client.renew_end_point(created.end_point_id, life_span=10)
        assert renewed.end_point_id == created.end_point_id and renewed.life_span == 3000
        assert client.close_end_point(created.end_point_id).type_name == "ResponseBase"
        with pytest.raises(RequestFailed) as err:
            client.renew_end_point(created.end_point_id)
        assert err.value.message == f"Unknown endpoint identifier; {created.end_point_id}"


def test_endpoint_address_must_match_the_request_address(client: Client) -> None:
    with pytest.raises(RequestFailed) as err:
        client.create_end_point("10.1.2.3", 40000)
    assert err.value.message == "Endpoint address must match request address, 10.1.2.3 127.0.0.1"
    with pytest.raises(RequestFailed) as err:
        client.create_end_point("", 40000)
    assert err.value.message == "Missing required parameter, CallbackHost"


def test_queued_requests_are_acknowledged_with_success_2(client: Client) -> None:
    reply = client.send_queued(RenewCapabilityRequest(life_span=100))
    assert reply.success == 2 and reply.queued and reply.type_name == "ResponseBase"


def test_udp_packets_are_executed_by_the_host(client: Client) -> None:
    endpoint = client.create_end_point("127.0.0.1", 40001, life_span=60000).end_point_id
    client.send_packet(CloseEndPointRequest(end_point_id=endpoint))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            client.renew_end_point(endpoint, life_span=60000)
        except RequestFailed as err:
            assert err.message.startswith("Unknown endpoint identifier")
            return
        time.sleep(0.1)
    pytest.fail("the UDP CloseEndPointRequest was not executed")


def test_connection_is_reused_across_requests(client: Client) -> None:
    client.info()
    first = client._http._conn
    for _ in range(20):
        client.renew_capability(life_span=60)
    assert client._http._conn is first


def test_listener_creates_renews_and_closes_its_endpoint(host: Host) -> None:
    with host.connect() as client:
        with EndpointListener(client, lifespan_ms=3000) as listener:
            endpoint = listener.endpoint_id
            assert endpoint and listener.port
            time.sleep(4)  # past the lifespan: only the renewals keep it
            client.renew_end_point(endpoint, life_span=3000)
        with pytest.raises(RequestFailed):
            client.renew_end_point(endpoint)


def test_unreachable_host_raises_transport_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError):
        Client(f"http://127.0.0.1:{port}/Dispatcher/", timeout_seconds=2).info()


def test_async_client_full_dispatcher_flow(host: Host) -> None:
    async def flow() -> None:
        for encoding in ("json", "bson"):
            client = await AsyncClient.connect(
                host.url, Credentials.from_name("Ada Lovelace", PASSWORD), encoding=encoding
            )
            async with client:
                assert client.scene == REGION
                assert (await client.info()).offers("Dispatcher.Messages.RenewEndPointRequest")
                assert (await client.renew_capability(life_span=77)).life_span == 77
                async with AsyncEndpointListener(client) as listener:
                    renewed = await client.renew_end_point(listener.endpoint_id or "", life_span=5000)
                    assert renewed.end_point_id == listener.endpoint_id
                assert (await client.send_queued(RenewCapabilityRequest(life_span=60))).queued
                await client.send_packet(RenewCapabilityRequest(life_span=60))
                capability = client.capability
            stale = AsyncClient(host.url, scene=REGION, capability=capability)
            async with stale:
                with pytest.raises(Unauthorized):
                    await stale.renew_capability(life_span=60)

    asyncio.run(flow())


def test_async_background_renewal(host: Host) -> None:
    async def flow() -> None:
        client = await AsyncClient.connect(
            host.url, Credentials.from_name("Ada Lovelace", PASSWORD), scene=REGION, lifespan_seconds=2
        )
        async with client:
            await asyncio.sleep(4.5)
            assert (await client.renew_capability(life_span=2)).capability == client.capability

    asyncio.run(flow())


TOUCH_DATAGRAM = (
    b'{"$type":"RemoteControl.Messages.TouchCallback","ObjectID":"C0FFEE00-1111-4A2B-8C3D-0123456789AB",'
    b'"RequestID":"f00dbabe-0001-4c2d-9e3f-aabbccddeeff","AvatarID":"7e1b2a44-90f3-4c1d-8a6e-3b5c2d9f0a11",'
    b'"OffsetPosition":[0.0,0.0,0.0],"TouchEvent":null}'
)
UPDATE_DATAGRAM = (
    b'{"$type":"RemoteControl.Messages.UpdatedCallback","ObjectID":"c0ffee00-1111-4a2b-8c3d-0123456789ab",'
    b'"RequestID":"f00dbabe-0002-4c2d-9e3f-aabbccddeeff","Position":[100.0,90.5,30.0]}'
)


def _send_to(port: int, *datagrams: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for d in datagrams:
            s.sendto(d, ("127.0.0.1", port))


def test_listener_hands_callback_datagrams_to_handlers(host: Host) -> None:
    from opensim_dispatcher import TouchEvent, UpdateEvent

    touches: list = []
    updates: list = []

    def failing(_event: object) -> None:
        raise RuntimeError("a broken handler must not stop the listener")

    with host.connect() as client:
        with EndpointListener(client, on_touch=touches.append, on_update=failing) as listener:
            _send_to(listener.port, b"garbage", UPDATE_DATAGRAM, TOUCH_DATAGRAM)
            first = listener.next_event(5)
            second = listener.next_event(5)
            listener.on_update = updates.append
            _send_to(listener.port, UPDATE_DATAGRAM)
            third = listener.next_event(5)
    assert isinstance(first, UpdateEvent) and first.position == (100.0, 90.5, 30.0)
    assert isinstance(second, TouchEvent)
    assert second.object_id == "c0ffee00-1111-4a2b-8c3d-0123456789ab" and second.touch_event is None
    assert touches == [second] and updates == [third]


def test_async_listener_runs_async_handlers(host: Host) -> None:
    from opensim_dispatcher import TouchEvent

    async def flow() -> None:
        client = await AsyncClient.connect(host.url, Credentials.from_name("Ada Lovelace", PASSWORD), scene=REGION)
        async with client:
            seen: asyncio.Queue = asyncio.Queue()

            async def on_touch(event: TouchEvent) -> None:
                await seen.put(event)

            async with AsyncEndpointListener(client, on_touch=on_touch) as listener:
                _send_to(listener.port, TOUCH_DATAGRAM)
                event = await asyncio.wait_for(seen.get(), 5)
                assert event.avatar_id == "7e1b2a44-90f3-4c1d-8a6e-3b5c2d9f0a11"
                endpoint = listener.endpoint_id
            with pytest.raises(RequestFailed):
                await client.renew_end_point(endpoint or "")

    asyncio.run(flow())


def test_a_connection_closed_while_idle_is_reopened_transparently(host: Host) -> None:
    with host.connect() as client:
        client.renew_capability(life_span=60)
        conn = client._http._conn
        assert conn is not None and conn.sock is not None
        conn.sock.shutdown(socket.SHUT_RDWR)  # as if the server had dropped the idle connection
        assert client.renew_capability(life_span=61).life_span == 61
