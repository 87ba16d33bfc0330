"""The event-stream subscriber (sync and asyncio) against the real host."""

from __future__ import annotations

import asyncio
from typing import List, Optional

import pytest
from conftest import OWNER, PASSWORD, REGION, Host, require

from opensim_dispatcher import AsyncClient, AsyncEventStream, Client, Credentials, EventStream, RequestFailed, Unauthorized, box_asset
from opensim_dispatcher.events import DEFAULT_TOPICS, TOPICS

SUBSCRIBE = "Dispatcher.Messages.SubscribeRequest"
TIMEOUT_SECONDS = 5.0


def make_object(client: Client, name: str, position=(100.0, 100.0, 25.0)) -> str:
    asset = box_asset(name)
    client.add_asset(asset)
    return client.create_object(asset.asset_id or "", position=position, name=name).object_id


def frames_until(stream: EventStream, wanted: int, match) -> List[dict]:
    seen: List[dict] = []
    while len(seen) < wanted:
        frame = stream.next_event(TIMEOUT_SECONDS)
        assert frame is not None, f"stream ended or timed out after {seen}"
        if match(frame):
            seen.append(frame)
    return seen


def test_stream_sends_snapshot_moves_touches_and_chat_in_order(host: Host) -> None:
    with host.connect() as client:
        require(client, SUBSCRIBE)
        before = make_object(client, "Before")
        with EventStream(client, ["objects", "touch", "chat"]) as stream:
            assert stream.response["Scene"] == REGION
            snapshot = stream.next_event(TIMEOUT_SECONDS)
            assert snapshot is not None and snapshot["$type"] == "Dispatcher.Messages.ObjectSnapshot"
            assert before in [o["ObjectID"] for o in snapshot["Objects"]]
            client.set_object_position(before, (50.0, 60.0, 25.0))
            client.touch_object(before)
            client.chat("hello from python", channel=0)
            mine = frames_until(stream, 3, lambda f: f.get("ObjectID") == before or f["$type"] == "Dispatcher.Messages.ChatEvent")
            assert [f["$type"] for f in mine] == [
                "Dispatcher.Messages.ObjectUpdated",
                "RemoteControl.Messages.TouchCallback",
                "Dispatcher.Messages.ChatEvent",
            ]
            assert mine[0]["Kind"] == "moved" and mine[0]["Position"] == [50.0, 60.0, 25.0]
            assert mine[2]["Text"] == "hello from python"


def test_a_bad_capability_is_refused_with_the_protocol_text(host: Host) -> None:
    with host.connect() as client:
        require(client, SUBSCRIBE)
        stranger = Client(client.url, scene=REGION, capability="0badf00d-0000-4000-8000-000000000000")
        with pytest.raises(Unauthorized) as refused:
            EventStream(stranger, ["chat"])
        assert refused.value.message == "Unauthorized invocation; no such capability"
        with pytest.raises(RequestFailed) as bad_topic:
            EventStream(client, ["everything"])
        assert "unknown topic" in bad_topic.value.message


def test_destroying_the_capability_ends_the_stream_with_a_failure(host: Host) -> None:
    client = host.connect()
    require(client, SUBSCRIBE)
    stream = EventStream(client, ["chat"])
    client.close()  # destroys the capability
    frame: Optional[dict] = stream.next_event(TIMEOUT_SECONDS)
    assert frame is not None and frame["_Success"] == 0, frame
    assert stream.failure is frame
    assert stream.next_event(TIMEOUT_SECONDS) is None and stream.closed


def test_async_stream_receives_chat(host: Host) -> None:
    async def flow() -> None:
        client = await AsyncClient.connect(host.url, Credentials.from_name(OWNER, PASSWORD), scene=REGION)
        async with client:
            async with await AsyncEventStream.open(client, ["chat"]) as stream:
                assert await stream.next_event(0.2) is None  # nothing yet: a timeout, not an end
                await client.chat("hello asyncio", channel=0)
                frame = await stream.next_event(TIMEOUT_SECONDS)
                assert frame is not None and frame["Text"] == "hello asyncio", frame
            assert stream.closed

    asyncio.run(flow())


def test_topics_are_the_hosts_and_the_default_is_what_remote_control_may_see(host: Host) -> None:
    assert TOPICS == ("objects", "touch", "chat", "scripts", "script-logs")
    assert DEFAULT_TOPICS == ("objects", "touch", "chat")
    with host.connect() as client:
        require(client, SUBSCRIBE)
        with EventStream(client) as stream:
            assert stream.response["Topics"] == list(DEFAULT_TOPICS)
