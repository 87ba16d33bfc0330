"""Offline tests: BSON codec, envelopes, reply parsing, generated API."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from opensim_dispatcher import DEFAULT_DOMAINS, RequestFailed, Unauthorized, UnknownMessageType, bson, codec, messages
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


# ----- Extensions domain (extensions.md §3) and the generic call --------------------


class _FakeHttp:
    """Records the encoded request and answers with a canned reply (no socket)."""

    def __init__(self, reply: dict) -> None:
        self.reply = reply
        self.sent: list = []

    def post(self, body: bytes, encoding: str) -> dict:
        self.sent.append((body, encoding))
        return self.reply

    def close(self) -> None:
        pass


def _offline_client(reply: dict, encoding: str = codec.JSON) -> "tuple[Client, _FakeHttp]":
    client = Client("http://127.0.0.1:9/Dispatcher/", scene="Harbor Island", capability="cap", encoding=encoding)
    fake = _FakeHttp(reply)
    client._http = fake  # type: ignore[assignment]
    return client, fake


def test_the_eight_extensions_requests() -> None:
    ext = [c for c in messages.REQUESTS if c.DOMAIN == "Extensions"]
    assert [c.TYPE.rsplit(".", 1)[1] for c in ext] == [
        "InstallExtensionRequest", "ListExtensionsRequest", "GetExtensionStatusRequest", "StartExtensionRequest",
        "StopExtensionRequest", "RemoveExtensionRequest", "UpdateExtensionRequest", "GetExtensionLogRequest",
    ]
    assert all(c.TYPE.startswith("Extensions.Messages.") for c in ext)
    assert "Extensions" in DEFAULT_DOMAINS


def test_install_extension_sends_the_component_as_base64_in_json() -> None:
    client, fake = _offline_client({"$type": "Extensions.Messages.InstallExtensionResponse", "_Success": 1,
                                    "ExtensionID": "ABC", "Domain": "Notes", "MessageTypes": ["Notes.Messages.AddNoteRequest"],
                                    "Grants": ["storage"], "State": "running", "Hash": "h"})
    reply = client.install_extension(b"\x00asm", scope="Harbor Island", grants=["storage"], config="x", start=False)
    body, encoding = fake.sent[0]
    wire = json.loads(body)
    assert encoding == codec.JSON
    assert wire == {"$type": "Extensions.Messages.InstallExtensionRequest", "Component": "AGFzbQ==",
                    "Scope": "Harbor Island", "Grants": ["storage"], "Config": "x", "Start": False,
                    "_Domain": "Extensions", "_Scene": "Harbor Island", "_Capability": "cap", "_AsyncRequest": False}
    assert isinstance(reply, messages.InstallExtensionResponse)
    assert reply.extension_id == "abc" and reply.domain == "Notes" and reply.state == "running"
    assert reply.message_types == ["Notes.Messages.AddNoteRequest"] and reply.grants == ["storage"]


def test_install_extension_sends_the_component_as_bson_binary() -> None:
    client, fake = _offline_client({"_Success": 1, "ExtensionID": "x"}, encoding=codec.BSON)
    client.install_extension(b"\x00asm\x0d")
    body, encoding = fake.sent[0]
    assert encoding == codec.BSON
    doc = bson.decode(body)
    assert doc["Component"] == b"\x00asm\x0d" and isinstance(doc["Component"], bytes)
    # Unset options are not sent, so the host's defaults (whole host, start) apply.
    assert set(doc) == {"$type", "Component", "_Domain", "_Scene", "_Capability", "_AsyncRequest"}


def test_update_extension_keeps_the_field_order_and_omits_unset_options() -> None:
    wire = messages.UpdateExtensionRequest(extension_id="E", component=b"c", config="cfg").to_wire()
    assert wire == {"$type": "Extensions.Messages.UpdateExtensionRequest", "ExtensionID": "E",
                    "Component": b"c", "Config": "cfg"}


def test_install_response_reads_message_types_listed_as_records() -> None:
    reply = parse_reply(messages.InstallExtensionRequest(component=b""),
                        {"_Success": 1, "MessageTypes": [{"RequestType": "Notes.Messages.AddNoteRequest",
                                                          "ReplyType": "Notes.Messages.AddNoteResponse"}, 7]})
    assert isinstance(reply, messages.InstallExtensionResponse)
    assert reply.message_types == ["Notes.Messages.AddNoteRequest", "7"]


def test_extension_status_spread_or_nested_and_listed() -> None:
    record = {"ExtensionID": "E1", "Domain": "Notes", "Version": "1.0", "Scope": "", "State": "faulted",
              "FaultReason": "timeout", "RequestsHandled": 3, "RequestsFailed": 1, "CpuMicros": 10,
              "MemoryBytes": 65536, "Restarts": 2, "InstalledBy": "ABC", "Grants": ["storage"], "Hash": "h"}
    spread = parse_reply(messages.GetExtensionStatusRequest(extension_id="e1"), {"_Success": 1, **record})
    nested = parse_reply(messages.GetExtensionStatusRequest(extension_id="e1"), {"_Success": 1, "Status": record})
    for reply in (spread, nested):
        assert isinstance(reply, messages.ExtensionStatusResponse) and reply.status is not None
        assert reply.status.extension_id == "e1" and reply.status.state == "faulted"
        assert reply.status.fault_reason == "timeout" and reply.status.restarts == 2
        assert reply.status.installed_by == "abc" and reply.status.requests_failed == 1
    listed = parse_reply(messages.ListExtensionsRequest(), {"_Success": 1, "Extensions": [record, "junk"]})
    assert isinstance(listed, messages.ListExtensionsResponse)
    assert [s.domain if s else None for s in listed.extensions] == ["Notes", None]


def test_extension_log_reuses_the_script_log_reply() -> None:
    reply = parse_reply(messages.GetExtensionLogRequest(extension_id="e", since=4),
                        {"_Success": 1, "Lines": [{"Seq": 5, "Level": "info", "Text": "ready"}]})
    assert isinstance(reply, messages.ScriptLogResponse)
    assert [(line.seq, line.text) for line in reply.lines] == [(5, "ready")]
    assert messages.GetExtensionLogRequest(extension_id="e", since=4).to_wire()["Since"] == 4


def test_generic_call_sends_type_members_and_the_types_domain() -> None:
    client, fake = _offline_client({"$type": "Notes.Messages.ListNotesResponse", "_Success": 1,
                                    "Notes": [{"Text": "hi"}]})
    reply = client.call("Notes.Messages.ListNotesRequest", {"Limit": 5, "Owner": uuid.UUID(int=1),
                                                             "Nested": {"Blob": b"\x01", "Ids": (uuid.UUID(int=2),)}})
    wire = json.loads(fake.sent[0][0])
    assert list(wire)[0] == "$type" and wire["$type"] == "Notes.Messages.ListNotesRequest"
    assert wire["_Domain"] == "Notes" and wire["_Capability"] == "cap" and wire["_Scene"] == "Harbor Island"
    assert wire["Limit"] == 5 and wire["Owner"] == str(uuid.UUID(int=1))
    assert wire["Nested"] == {"Blob": "AQ==", "Ids": [str(uuid.UUID(int=2))]}
    assert reply == {"$type": "Notes.Messages.ListNotesResponse", "_Success": 1, "Notes": [{"Text": "hi"}]}


def test_generic_call_over_bson_sends_bytes_as_binary_and_honours_a_domain_override() -> None:
    client, fake = _offline_client({"_Success": 1}, encoding=codec.BSON)
    client.call("Chaos.Messages.EchoRequest", {"Data": b"\xff\x00"}, domain="Named")
    doc = bson.decode(fake.sent[0][0])
    assert doc["Data"] == b"\xff\x00" and doc["_Domain"] == "Named"


def test_generic_call_failure_raises_with_the_message() -> None:
    client, _ = _offline_client({"$type": "ResponseBase", "_Success": 0,
                                 "_Message": "extension Notes faulted: timeout"})
    with pytest.raises(RequestFailed) as err:
        client.call("Notes.Messages.AddNoteRequest", {"Text": "x"})
    assert err.value.message == "extension Notes faulted: timeout"
    assert err.value.request_type == "Notes.Messages.AddNoteRequest"


@pytest.mark.parametrize("type_name", ["", "Notes", "Notes.Messages.", ".Messages.X", "A.B.Messages.X",
                                       "No tes.Messages.X", "Notes.Replies.X"])
def test_generic_call_refuses_a_type_name_without_a_domain(type_name: str) -> None:
    with pytest.raises(ValueError):
        messages.GenericRequest(type_name=type_name)


@pytest.mark.parametrize("member", ["$type", "_Capability", "_scene", "_DOMAIN", "_AsyncRequest"])
def test_generic_call_refuses_envelope_members(member: str) -> None:
    # The client owns the envelope: a member smuggled in could otherwise name
    # another scene or another capability than the client's own.
    with pytest.raises(ValueError):
        messages.GenericRequest(type_name="Notes.Messages.AddNoteRequest", members={member: "x"})


def test_async_client_has_the_generic_call() -> None:
    import asyncio
    import inspect

    from opensim_dispatcher.aio import AsyncClient

    assert inspect.iscoroutinefunction(AsyncClient.call)

    async def run() -> dict:
        client = AsyncClient("http://127.0.0.1:9/Dispatcher/", scene="s", capability="c")

        class Fake:
            sent: list = []

            async def post(self, body: bytes, encoding: str) -> dict:
                Fake.sent.append(body)
                return {"_Success": 1, "Count": 2}

            async def close(self) -> None:
                pass

        client._http = Fake()  # type: ignore[assignment]
        reply = await client.call("Notes.Messages.CountRequest")
        assert json.loads(Fake.sent[0])["_Domain"] == "Notes"
        return reply

    assert asyncio.run(run()) == {"_Success": 1, "Count": 2}
