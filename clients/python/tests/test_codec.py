"""Offline tests: BSON codec, envelopes, reply parsing, generated API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from opensim_dispatcher import RequestFailed, Unauthorized, UnknownMessageType, bson, codec, messages
from opensim_dispatcher.client import Client, parse_reply

HERE = Path(__file__).resolve().parent

# dispatcher-core.md §3.8: the InfoRequest example, 88 bytes.
INFO_BSON_HEX = (
    "5800000002247479706500200000004469737061746368657"
    "22e4d657373616765732e496e666f5265717565737400085f"
    "6173796e63726571756573740000025f646f6d61696e000b0"
    "00000446973706174636865720000"
)


def test_bson_matches_the_spec_example() -> None:
    doc = {"$type": "Dispatcher.Messages.InfoRequest", "_asyncrequest": False, "_domain": "Dispatcher"}
    assert bson.encode(doc).hex() == INFO_BSON_HEX
    assert bson.decode(bytes.fromhex(INFO_BSON_HEX)) == doc


def test_bson_round_trips_every_supported_type() -> None:
    doc = {"$type": "X", "i": -5, "big": 2**40, "f": 1.5, "s": "é", "n": None, "b": True,
           "l": [1, "two", [3.0]], "d": {"k": "v"}, "bin": b"\x00\xff"}
    assert bson.decode(bson.encode(doc)) == {**doc, "l": [1, "two", [3.0]]}


@pytest.mark.parametrize("data", [b"", b"\x05\x00\x00", b"\x06\x00\x00\x00\x02\x00", b"\xff\xff\xff\x7f\x00",
                                  bytes.fromhex(INFO_BSON_HEX)[:-3], b"\x0c\x00\x00\x00\x7fa\x00\x00\x00\x00\x00\x00"])
def test_bson_refuses_malformed_input_cleanly(data: bytes) -> None:
    with pytest.raises(bson.BsonError):
        bson.decode(data)


def test_envelope_puts_type_first_and_carries_scene_and_capability() -> None:
    req = messages.SetObjectPositionRequest(object_id="ABC", position=(1, 2, 3))
    wire = codec.envelope(req, "Harbor Island", "cap")
    assert list(wire)[0] == "$type"
    assert wire["Position"] == [1.0, 2.0, 3.0]
    assert wire["_Domain"] == "RemoteControl" and wire["_Scene"] == "Harbor Island"
    assert wire["_Capability"] == "cap" and wire["_AsyncRequest"] is False


def test_pre_authentication_messages_send_no_capability() -> None:
    wire = codec.envelope(messages.InfoRequest(), None, "cap")
    assert "_Capability" not in wire and wire["_Domain"] == "Dispatcher"


def test_optional_fields_are_omitted_so_server_defaults_apply() -> None:
    wire = messages.CreateObjectRequest(asset_id="a").to_wire()
    assert set(wire) == {"$type", "AssetID"}


def test_json_encodes_binary_as_base64() -> None:
    req = messages.UploadScriptRequest(object_id="o", name="n", component=b"\x00asm")
    assert b'"Component":"AGFzbQ=="' in codec.encode(codec.envelope(req, "s", "c"), codec.JSON)


def test_failure_replies_raise_typed_errors_carrying_the_message() -> None:
    req = messages.RenewCapabilityRequest()
    with pytest.raises(Unauthorized) as err:
        parse_reply(req, {"$type": "ResponseBase", "_Success": 0,
                          "_Message": "Unauthorized invocation; no such capability"})
    assert err.value.message == "Unauthorized invocation; no such capability"
    assert err.value.reply["$type"] == "ResponseBase"
    with pytest.raises(UnknownMessageType):
        parse_reply(req, {"_Success": 0, "_Message": "Unknown message type; X"})
    with pytest.raises(RequestFailed):
        parse_reply(req, {"_Success": 0, "_Message": "lifespan must be greater than 0 -1"})


def test_replies_are_parsed_without_regard_to_member_case() -> None:
    reply = parse_reply(messages.GetObjectPositionRequest(object_id="x"),
                        {"$type": "RemoteControl.Messages.ObjectPositionResponse", "_success": 1,
                         "objectid": "ABC", "POSITION": [1, 2, 3]})
    assert isinstance(reply, messages.ObjectPositionResponse)
    assert reply.object_id == "abc" and reply.position == (1.0, 2.0, 3.0)


def test_queued_reply_is_a_plain_response() -> None:
    reply = parse_reply(messages.GetObjectPositionRequest(object_id="x"), {"$type": "ResponseBase", "_Success": 2})
    assert type(reply) is messages.Response and reply.queued


def test_every_request_has_a_client_method() -> None:
    from opensim_dispatcher.aio import AsyncClient

    for cls in messages.REQUESTS:
        name = cls.__name__[: -len("Request")]
        snake = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
        assert callable(getattr(Client, snake)), snake
        assert callable(getattr(AsyncClient, snake)), snake
    rc = [c for c in messages.REQUESTS if c.DOMAIN == "RemoteControl"]
    assert len(rc) == 38  # the 35 of remote-control.md §1 + TouchObjectRequest + ImportOar/ExportOar
    sc = [c for c in messages.REQUESTS if c.DOMAIN == "Scripting"]
    assert len(sc) == 9  # scripting.md §3 + UpdateScriptRequest (authoring.md §2)


def test_generated_api_is_current() -> None:
    generated = HERE.parent / "src" / "opensim_dispatcher" / "_api.py"
    before = generated.read_text()
    sys.path.insert(0, str(HERE.parent / "tools"))
    try:
        import generate_api  # type: ignore[import-not-found]

        assert generate_api.render() == before, "run tools/generate_api.py"
    finally:
        sys.path.pop(0)


def test_method_parameters_follow_the_message_field_order() -> None:
    # Regression: register_updated_callback(ids, endpoint) once took its
    # arguments in the wrong order because required ones were moved first.
    import dataclasses
    import inspect

    for cls in messages.REQUESTS:
        name = "".join("_" + c.lower() if c.isupper() else c for c in cls.__name__[: -len("Request")]).lstrip("_")
        params = list(inspect.signature(getattr(Client, name)).parameters)[1:]
        assert params == [f.name for f in dataclasses.fields(cls) if "wire" in f.metadata], name
