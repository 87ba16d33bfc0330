"""Extensions messages and the generic call against a real host (extensions.md §3).

The generic call is checked on a built-in type at once; the Extensions tests
skip ONLY while the running host's InfoResponse.MessageList lacks the
Extensions messages, and need the built tutorial extension
(``guest-examples/build.sh`` -> ``guest-examples/out/ext-tutorial.wasm``).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import REGION, Host, component_path, require

from opensim_dispatcher import DEFAULT_DOMAINS, ZERO_UUID, Client, RequestFailed, Unauthorized, UnknownMessageType

EX = "Extensions.Messages."
GREET = "Greeter.Messages.GreetRequest"
LOG_TIMEOUT_SECONDS = 10.0
EXTENSION_MESSAGES = tuple(EX + n for n in (
    "InstallExtensionRequest", "ListExtensionsRequest", "GetExtensionStatusRequest", "StartExtensionRequest",
    "StopExtensionRequest", "RemoveExtensionRequest", "UpdateExtensionRequest", "GetExtensionLogRequest"))


def test_generic_call_answers_like_the_typed_method(client: Client) -> None:
    require(client, "RemoteControl.Messages.GetSunParametersRequest")
    typed = client.get_sun_parameters()
    reply = client.call("RemoteControl.Messages.GetSunParametersRequest")
    assert reply["_Success"] == 1
    assert reply["DayLength"] == pytest.approx(typed.day_length)


def test_generic_call_failures_raise(client: Client) -> None:
    with pytest.raises(UnknownMessageType):
        client.call("Nowhere.Messages.AnythingRequest", {"X": 1})
    require(client, "RemoteControl.Messages.GetObjectDataRequest")
    with pytest.raises(RequestFailed) as err:
        client.call("RemoteControl.Messages.GetObjectDataRequest", {"ObjectID": ZERO_UUID})
    assert err.value.message and err.value.request_type == "RemoteControl.Messages.GetObjectDataRequest"


def tutorial() -> Path:
    path = component_path("ext-tutorial")
    if path is None or path.name != "ext-tutorial.wasm":
        pytest.skip("guest-examples/out/ext-tutorial.wasm not built (run guest-examples/build.sh)")
    return path


def test_install_call_update_stop_start_remove(host: Host) -> None:
    domains = [*DEFAULT_DOMAINS, "Greeter"]
    with host.connect(domains=domains) as owner, host.connect(domains=domains, encoding="bson") as owner_bson:
        require(owner, *EXTENSION_MESSAGES)
        component = tutorial().read_bytes()
        installed = owner.install_extension(component, scope=REGION, grants=["storage"], config="from python")
        try:
            assert installed.domain == "Greeter" and installed.state == "running"
            assert GREET in installed.message_types and len(installed.hash) == 64
            assert "storage" in installed.grants
            assert owner.info().offers(GREET, REGION)
            assert owner.message_format(GREET).sample.get("Name") == ""

            with host.connect() as without_greeter:
                with pytest.raises(Unauthorized):
                    without_greeter.call(GREET, {"Name": "no domain"})

            first = owner.call(GREET, {"Name": "Python"})
            assert first["Greeting"] == "Hello, Python!" and first["Count"] == 1
            # BSON: the reply comes back in the request's encoding, same members.
            second = owner_bson.call(GREET, {"Name": ""})
            assert second["Greeting"] == "Hello, Ada!" and second["Count"] == 2
            with pytest.raises(RequestFailed) as err:
                owner.call(GREET, {"Name": "x" * 65})
            assert "longer than 64" in err.value.message

            status = owner.get_extension_status(installed.extension_id).status
            assert status is not None and status.domain == "Greeter" and status.state == "running"
            assert status.requests_handled >= 2 and status.installed_by == host.ids["Ada"]
            assert installed.extension_id in [s.extension_id for s in owner.list_extensions().extensions]

            deadline = time.monotonic() + LOG_TIMEOUT_SECONDS
            lines: list = []
            while time.monotonic() < deadline and not any("Greeter ready" in t for t in lines):
                lines = [line.text for line in owner.get_extension_log(installed.extension_id).lines]
                time.sleep(0.1)
            assert any('Greeter ready (config: "from python")' in t for t in lines), lines

            owner.stop_extension(installed.extension_id)
            assert owner.get_extension_status(installed.extension_id).status.state == "stopped"  # type: ignore[union-attr]
            with pytest.raises(RequestFailed):
                owner.call(GREET, {"Name": "stopped"})
            owner.start_extension(installed.extension_id)
            assert owner.call(GREET, {"Name": "again"})["Count"] == 3  # storage kept

            updated = owner.update_extension(installed.extension_id, component, config="updated")
            assert updated.extension_id == installed.extension_id and updated.domain == "Greeter"
            assert owner.call(GREET, {"Name": "updated"})["Count"] == 4  # storage kept across the update
        finally:
            owner.remove_extension(installed.extension_id)
        with pytest.raises(UnknownMessageType):
            owner.call(GREET, {"Name": "gone"})
        assert installed.extension_id not in [s.extension_id for s in owner.list_extensions().extensions]


def test_install_refuses_bytes_that_are_not_a_component(client: Client) -> None:
    require(client, EX + "InstallExtensionRequest", EX + "ListExtensionsRequest")
    before = len(client.list_extensions().extensions)
    with pytest.raises(RequestFailed) as err:
        client.install_extension(b"\x00asm\x01\x00\x00\x00", scope=REGION)
    assert err.value.message
    assert len(client.list_extensions().extensions) == before


def test_a_capability_without_the_domains_is_refused(host: Host) -> None:
    # Extensions messages need "Extensions" in the DomainList, an extension's
    # messages need its own domain there, exactly like RemoteControl.
    with host.connect(domains=["Dispatcher", "RemoteControl"]) as narrow:
        require(narrow, EX + "InstallExtensionRequest")
        with pytest.raises(Unauthorized):
            narrow.install_extension(tutorial().read_bytes(), scope=REGION)
        with pytest.raises(Unauthorized):
            narrow.list_extensions()
