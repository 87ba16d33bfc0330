"""RemoteControl messages against a real host (remote-control.md §4).

Every test calls ``require(...)`` first: it skips ONLY while the running host's
InfoResponse.MessageList lacks one of the message types the test uses, so the
tests start running by themselves as soon as the RemoteControl handlers land.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from conftest import OWNER, PASSWORD, REGION, Host, require

from opensim_dispatcher import (
    AssetData,
    AsyncClient,
    AsyncEndpointListener,
    Client,
    Credentials,
    EndpointListener,
    ObjectDynamics,
    ObjectSpecification,
    RequestFailed,
    TouchEvent,
    UpdateEvent,
    box_asset,
)
from opensim_dispatcher.messages import BulkDynamicsRequest, SetObjectPositionRequest

RC = "RemoteControl.Messages."
# How long callbacks and queued requests get to arrive.
EVENT_TIMEOUT_SECONDS = 5.0


def rc(client: Client, *names: str) -> None:
    require(client, *(RC + n for n in names))


def make_object(client: Client, name: str, position=(100.0, 100.0, 25.0), children=()) -> str:
    asset = box_asset(name, children=children)
    client.add_asset(asset)
    return client.create_object(asset.asset_id or "", position=position, name=name).object_id


def close(a, b, tolerance=1e-3) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= tolerance for x, y in zip(a, b))


def eventually(check, timeout=EVENT_TIMEOUT_SECONDS):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(0.05)


def test_assets_add_test_get_round_trip(client: Client) -> None:
    rc(client, "AddAssetRequest", "TestAssetRequest", "GetAssetRequest")
    asset = AssetData(asset_id=str(uuid.uuid4()), data=b"Hello, world!\x00", name="greeting",
                      description="a notecard", content_type="application/vnd.ll.notecard",
                      creator_id=str(uuid.uuid4()))
    assert client.add_asset(asset).asset_id == asset.asset_id
    assert client.test_asset(asset.asset_id or "").exists
    assert not client.test_asset(str(uuid.uuid4())).exists
    got = client.get_asset(asset.asset_id or "").asset
    assert got is not None and got.data == asset.data and got.name == "greeting"
    assert got.content_type == "application/vnd.ll.notecard"
    with pytest.raises(RequestFailed) as err:
        client.get_asset(str(uuid.uuid4()))
    assert err.value.message == "no such asset"


def test_create_object_and_read_it_back(client: Client) -> None:
    rc(client, "AddAssetRequest", "CreateObjectRequest", "GetObjectDataRequest", "GetObjectPartsRequest",
       "GetObjectInventoryRequest", "FindObjectsRequest")
    name = f"Tile {uuid.uuid4().hex[:8]}"
    object_id = make_object(client, name, position=(50.0, 60.0, 22.0), children=[("Leg", (0.0, 0.0, -0.5))])
    data = client.get_object_data(object_id)
    assert data.name == name and close(data.position, (50, 60, 22))
    assert data.type_name == RC + "GetObjectDataResponse"
    parts = client.get_object_parts(object_id).parts
    assert [p.link_num for p in parts] == [1, 2]
    assert parts[1].name == "Leg" and close(parts[1].offset_position, (0, 0, -0.5))
    assert client.get_object_inventory(object_id).inventory == []
    assert object_id in client.find_objects(pattern=name).objects
    assert client.find_objects(pattern=name, coordinate_a=(0, 0, 0), coordinate_b=(10, 10, 10)).objects == []
    with pytest.raises(RequestFailed) as err:
        client.get_object_data(str(uuid.uuid4()))
    assert err.value.message == "no such object"


def test_create_object_with_chosen_id_and_duplicate(client: Client) -> None:
    rc(client, "AddAssetRequest", "CreateObjectRequest", "DeleteObjectRequest")
    asset = box_asset("chosen")
    client.add_asset(asset)
    chosen = str(uuid.uuid4())
    assert client.create_object(asset.asset_id or "", object_id=chosen).object_id == chosen
    with pytest.raises(RequestFailed) as err:
        client.create_object(asset.asset_id or "", object_id=chosen)
    assert err.value.message == "failed to add the object to the scene"
    client.delete_object(chosen)
    with pytest.raises(RequestFailed) as err:
        client.delete_object(chosen)
    assert err.value.message == "no such object"
    with pytest.raises(RequestFailed) as err:
        client.create_object(str(uuid.UUID(int=0)))
    assert err.value.message == "missing asset id"


def test_positions_and_rotations(client: Client) -> None:
    rc(client, "AddAssetRequest", "CreateObjectRequest", "GetObjectPositionRequest", "SetObjectPositionRequest",
       "GetObjectRotationRequest", "SetObjectRotationRequest")
    object_id = make_object(client, "mover")
    moved = client.set_object_position(object_id, (100.0, 90.5, 30.0))
    assert moved.object_id == object_id and close(moved.position, (100, 90.5, 30))
    assert close(client.get_object_position(object_id).position, (100, 90.5, 30))
    # Outside the region: success, unchanged position.
    assert close(client.set_object_position(object_id, (300.0, 10.0, 30.0)).position, (100, 90.5, 30))
    rot = (0.0, 0.0, 0.7071068, 0.7071068)
    assert close(client.set_object_rotation(object_id, rot).rotation, rot, 1e-6)
    assert close(client.get_object_rotation(object_id).rotation, rot, 1e-6)


def test_queued_and_udp_moves_take_effect(client: Client) -> None:
    rc(client, "AddAssetRequest", "CreateObjectRequest", "GetObjectPositionRequest", "SetObjectPositionRequest",
       "BulkDynamicsRequest")
    object_id = make_object(client, "async mover")
    assert client.send_queued(SetObjectPositionRequest(object_id=object_id, position=(10.0, 10.0, 30.0))).queued
    assert eventually(lambda: close(client.get_object_position(object_id).position, (10, 10, 30)))
    client.send_packet(BulkDynamicsRequest(updates=[ObjectDynamics(object_id=object_id, position=(20.0, 20.0, 30.0))]))
    assert eventually(lambda: close(client.get_object_position(object_id).position, (20, 20, 30)))


def test_bulk_dynamics_partial_updates(client: Client) -> None:
    rc(client, "AddAssetRequest", "CreateObjectRequest", "BulkDynamicsRequest", "GetObjectDataRequest")
    a = make_object(client, "bulk a", position=(30.0, 30.0, 25.0))
    b = make_object(client, "bulk b", position=(40.0, 30.0, 25.0))
    reply = client.bulk_dynamics([
        ObjectDynamics(object_id=a, position=(31.0, 30.0, 25.0)),
        # Only a rotation: the client must not send Position, so b stays put.
        ObjectDynamics(object_id=b, rotation=(0.0, 0.0, 1.0, 0.0)),
        ObjectDynamics(object_id=str(uuid.uuid4()), position=(1.0, 1.0, 1.0)),
    ])
    assert reply.type_name == "ResponseBase"
    assert close(client.get_object_data(a).position, (31, 30, 25))
    assert close(client.get_object_data(b).position, (40, 30, 25))
    assert close(client.get_object_data(b).rotation, (0, 0, 1, 0))


def test_bulk_create_and_delete_report_warnings(client: Client) -> None:
    rc(client, "AddAssetRequest", "CreateBulkObjectsRequest", "DeleteBulkObjectsRequest", "GetObjectDataRequest")
    asset = box_asset("car")
    client.add_asset(asset)
    ok, missing = str(uuid.uuid4()), str(uuid.uuid4())
    reply = client.create_bulk_objects([
        ObjectSpecification(asset_id=asset.asset_id or "", name="car-1",
                            object_data=ObjectDynamics(object_id=ok, position=(10.0, 10.0, 22.0))),
        ObjectSpecification(asset_id=str(uuid.UUID(int=0)),
                            object_data=ObjectDynamics(object_id=missing, position=(12.0, 10.0, 22.0))),
    ])
    assert reply.message == f"missing asset for object {missing}; "
    assert client.get_object_data(ok).name == "car-1"
    gone = str(uuid.uuid4())
    assert client.delete_bulk_objects([ok, gone]).message == f"no such object {gone}; "


def test_parts_messages_and_asset_from_object(client: Client) -> None:
    rc(client, "AddAssetRequest", "CreateObjectRequest", "SetPartPositionRequest", "SetPartRotationRequest",
       "SetPartScaleRequest", "SetPartColorRequest", "GetObjectPartsRequest", "GetAssetFromObjectRequest",
       "GetDependentAssetsRequest")
    object_id = make_object(client, "linked", children=[("child", (0.0, 1.0, 0.0))])
    client.set_part_position(object_id, 2, (0.0, 0.0, 1.5))
    client.set_part_rotation(object_id, 2, (0.0, 0.3826834, 0.0, 0.9238795))
    client.set_part_scale(object_id, 0, (2.0, 2.0, 0.1))
    client.set_part_color(object_id, 0, (1.0, 0.5, 0.0))
    parts = client.get_object_parts(object_id).parts
    assert close(parts[1].offset_position, (0, 0, 1.5))
    with pytest.raises(RequestFailed) as err:
        client.set_part_scale(object_id, 3, (1.0, 1.0, 1.0))
    assert err.value.message == "no such part"
    asset = client.get_asset_from_object(object_id).asset
    assert asset is not None and asset.content_type == "application/vnd.ll.primitive"
    assert b"<Scale>" in asset.data or b"Scale" in asset.data
    assert asset.asset_id in client.get_dependent_assets(asset.asset_id or "").dependent_assets


def test_message_object_and_delete_all(fresh_host: Host) -> None:
    with fresh_host.connect() as client:
        rc(client, "AddAssetRequest", "CreateObjectRequest", "MessageObjectRequest", "DeleteAllObjectsRequest",
           "FindObjectsRequest")
        object_id = make_object(client, "listener")
        client.message_object(object_id, "start")
        assert client.find_objects().objects
        client.delete_all_objects()
        assert client.find_objects().objects == []


def test_chat_sun_and_terrain(client: Client) -> None:
    rc(client, "ChatRequest", "GetSunParametersRequest", "SetSunParametersRequest", "GetTerrainHeightRequest",
       "SetTerrainHeightRequest")
    assert client.chat("Welcome to the demo", position=(128.0, 128.0, 30.0), channel=0).success == 1
    sun = client.get_sun_parameters()
    assert sun.type_name == "SunParametersResponse" and 0 <= sun.current_time < 24
    updated = client.set_sun_parameters(current_time=12.0, day_length=2.0)
    assert updated.day_length == 2.0 and abs(updated.current_time - 12.0) < 0.05
    set_reply = client.set_terrain_height(128, 64, 23.5)
    assert set_reply.type_name == "TerrainHeightResponse" and abs(set_reply.height - 23.5) < 0.01
    assert abs(client.get_terrain_height(128, 64).height - 23.5) < 0.01
    with pytest.raises(RequestFailed):
        client.set_terrain_height(256, 0, 1.0)


def test_avatar_appearance_round_trip(client: Client) -> None:
    rc(client, "GetAvatarAppearanceRequest", "SetAvatarAppearanceRequest")
    reply = client.get_avatar_appearance()
    appearance = reply.appearance
    assert {"serial", "wearables", "textures", "visualparams"} <= set(appearance)
    client.set_avatar_appearance(reply.serialized_appearance)
    assert client.get_avatar_appearance().appearance["serial"] == appearance["serial"] + 1
    with pytest.raises(RequestFailed):
        client.set_avatar_appearance("not json")


def test_touch_callbacks_reach_the_listener(client: Client) -> None:
    rc(client, "AddAssetRequest", "CreateObjectRequest", "RegisterTouchCallbackRequest",
       "UnregisterTouchCallbackRequest", "TouchObjectRequest")
    object_id = make_object(client, "touch me")
    touches: list = []
    with EndpointListener(client, on_touch=touches.append) as listener:
        request_id = listener.watch_touches(object_id)
        client.touch_object(object_id)
        event = listener.next_event(EVENT_TIMEOUT_SECONDS)
        assert isinstance(event, TouchEvent)
        assert event.object_id == object_id and event.request_id == request_id
        assert touches and touches[0] == event
        client.unregister_touch_callback(object_id, request_id)
        listener._regs.touches.clear()
        client.touch_object(object_id)
        assert listener.next_event(1.0) is None
    with pytest.raises(RequestFailed) as err:
        client.unregister_touch_callback(object_id, request_id)
    assert err.value.message == f"no handler for requested object; {object_id}"


def test_update_callbacks_reach_the_listener(client: Client) -> None:
    rc(client, "AddAssetRequest", "CreateObjectRequest", "RegisterUpdatedCallbackRequest",
       "UnregisterUpdatedCallbackRequest", "SetObjectPositionRequest")
    object_id = make_object(client, "watched")
    with EndpointListener(client) as listener:
        request_id = listener.watch_updates([object_id])
        client.set_object_position(object_id, (70.0, 71.0, 30.0))
        event = listener.next_event(EVENT_TIMEOUT_SECONDS)
        assert isinstance(event, UpdateEvent)
        assert event.request_id == request_id and close(event.position, (70, 71, 30))
        client.set_object_position(object_id, (70.0, 71.0, 30.0))  # same position: no callback
        assert listener.next_event(0.5) is None


def test_async_client_and_listener_receive_touches(host: Host) -> None:
    async def flow() -> None:
        client = await AsyncClient.connect(host.url, Credentials.from_name(OWNER, PASSWORD), scene=REGION)
        async with client:
            info = await client.info()
            needed = ["AddAssetRequest", "CreateObjectRequest", "RegisterTouchCallbackRequest", "TouchObjectRequest"]
            missing = [n for n in needed if not info.offers(RC + n, REGION)]
            if missing:
                pytest.skip(f"host does not offer {missing} yet (not in InfoResponse.MessageList)")
            asset = box_asset("async touch")
            await client.add_asset(asset)
            object_id = (await client.create_object(asset.asset_id or "")).object_id
            seen: asyncio.Queue = asyncio.Queue()

            async def on_touch(event: TouchEvent) -> None:
                await seen.put(event)

            async with AsyncEndpointListener(client, on_touch=on_touch) as listener:
                await listener.watch_touches(object_id)
                await client.touch_object(object_id)
                event = await asyncio.wait_for(seen.get(), EVENT_TIMEOUT_SECONDS)
                assert event.object_id == object_id

    asyncio.run(flow())


def test_bson_client_speaks_remote_control(host: Host) -> None:
    with host.connect(encoding="bson") as client:
        rc(client, "AddAssetRequest", "CreateObjectRequest", "GetObjectPositionRequest")
        object_id = make_object(client, "bson box", position=(12.0, 13.0, 24.0))
        assert close(client.get_object_position(object_id).position, (12, 13, 24))


class _BrokenAsset(AssetData):
    """An asset whose bytes are sent as invalid base64."""

    def to_wire(self):  # type: ignore[override]
        wire = super().to_wire()
        wire["SerializedAsset"] = "***not base64***"
        return wire


def test_add_asset_rejects_invalid_base64_and_stores_nothing(client: Client) -> None:
    rc(client, "AddAssetRequest", "TestAssetRequest")
    asset = _BrokenAsset(asset_id=str(uuid.uuid4()), data=b"x", content_type="application/vnd.ll.notecard")
    with pytest.raises(RequestFailed):
        client.add_asset(asset)
    assert not client.test_asset(asset.asset_id or "").exists
