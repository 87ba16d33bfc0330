"""Scripting messages against a real host (scripting.md §3).

Each test skips ONLY while the running host's InfoResponse.MessageList lacks a
message type it uses, so it starts running once the Scripting handlers land.
Uploading a working script also needs a built guest example
(``guest-examples/build.sh`` → ``guest-examples/out/touch-lift.wasm``, or
``$DISPATCHER_TEST_COMPONENT``).
"""

from __future__ import annotations

import subprocess
import time

import pytest
from conftest import Host, component_path, python, require

from opensim_dispatcher import Client, RequestFailed, box_asset

SC = "Scripting.Messages."
LOG_TIMEOUT_SECONDS = 10.0


def make_object(client: Client, name: str) -> str:
    require(client, "RemoteControl.Messages.AddAssetRequest", "RemoteControl.Messages.CreateObjectRequest")
    asset = box_asset(name)
    client.add_asset(asset)
    return client.create_object(asset.asset_id or "", name=name).object_id


def test_upload_refuses_bytes_that_are_not_a_component(client: Client) -> None:
    require(client, SC + "UploadScriptRequest", SC + "ListScriptsRequest")
    object_id = make_object(client, "scripted (bad)")
    with pytest.raises(RequestFailed) as err:
        client.upload_script(object_id, "junk", b"\x00asm\x01\x00\x00\x00")
    assert err.value.message
    assert client.list_scripts(object_id).scripts == []


def test_upload_status_log_stop_start_remove(client: Client) -> None:
    require(client, *(SC + n for n in ("UploadScriptRequest", "GetScriptStatusRequest", "GetScriptLogRequest",
                                        "StopScriptRequest", "StartScriptRequest", "ResetScriptRequest",
                                        "RemoveScriptRequest", "ListScriptsRequest")))
    component = component_path("touch-lift")
    if component is None:
        pytest.skip("guest-examples/out/touch-lift.wasm not built (run guest-examples/build.sh)")
    object_id = make_object(client, "scripted")
    uploaded = client.upload_script(object_id, "touch-lift", component.read_bytes(),
                                    grants=["objects:read", "objects:write"])
    assert len(uploaded.hash) == 64 and uploaded.state == "running"
    status = client.get_script_status(uploaded.script_id).status
    assert status is not None and status.object_id == object_id and status.name == "touch-lift"
    deadline = time.monotonic() + LOG_TIMEOUT_SECONDS
    lines: list = []
    while time.monotonic() < deadline and not lines:
        lines = [line.text for line in client.get_script_log(uploaded.script_id).lines]
        time.sleep(0.1)
    assert any("touch-lift ready" in text for text in lines)
    client.stop_script(uploaded.script_id)
    assert client.get_script_status(uploaded.script_id).status.state == "stopped"  # type: ignore[union-attr]
    client.start_script(uploaded.script_id)
    client.reset_script(uploaded.script_id)
    assert [s.script_id for s in client.list_scripts(object_id).scripts] == [uploaded.script_id]
    client.remove_script(uploaded.script_id)
    assert client.list_scripts(object_id).scripts == []


def test_cli_script_upload_and_logs(host: Host) -> None:
    with host.connect() as client:
        require(client, SC + "UploadScriptRequest", SC + "GetScriptLogRequest")
        component = component_path("touch-lift")
        if component is None:
            pytest.skip("guest-examples/out/touch-lift.wasm not built (run guest-examples/build.sh)")
        object_id = make_object(client, "cli scripted")
    cli = [python(), "-m", "opensim_dispatcher"]
    up = subprocess.run(cli + ["script", "upload", object_id, str(component), "--grant", "objects:read",
                               "--grant", "objects:write"], env=host.env(), capture_output=True, text=True)
    assert up.returncode == 0, up.stderr
    script_id = up.stdout.split()[1]
    logs = subprocess.run(cli + ["script", "logs", script_id, "--follow", "--max-seconds", "3"],
                          env=host.env(), capture_output=True, text=True)
    assert logs.returncode == 0, logs.stderr
    assert "touch-lift ready" in logs.stdout
