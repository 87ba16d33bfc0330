"""The ``opensim-dispatcher`` command line against a real host."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import List

from conftest import REGION, Host, python, require

from opensim_dispatcher import box_asset

CLI = [python(), "-m", "opensim_dispatcher"]


def run(host: Host, args: List[str], **env: str) -> subprocess.CompletedProcess:
    environment = host.env()
    environment.update(env)
    return subprocess.run(CLI + args, env=environment, capture_output=True, text=True, timeout=60)


def test_console_script_is_installed() -> None:
    script = shutil.which("opensim-dispatcher") or str(Path(python()).parent / "opensim-dispatcher")
    out = subprocess.run([script, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "probe" in out.stdout


def test_probe_prints_bindings_scenes_and_messages(host: Host) -> None:
    out = run(host, ["probe"])
    assert out.returncode == 0, out.stderr
    assert f"http {host.url}" in out.stdout and f"udp {host.udp}" in out.stdout
    assert f"scene {REGION}" in out.stdout
    assert "message Dispatcher::Dispatcher.Messages.CreateEndPointRequest" in out.stdout


def test_probe_over_bson(host: Host) -> None:
    out = run(host, ["--bson", "probe"])
    assert out.returncode == 0 and f"scene {REGION}" in out.stdout


def test_auth_prints_a_capability(host: Host) -> None:
    out = run(host, ["auth"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("capability ") and "lifespan 300" in out.stdout


def test_auth_with_a_bad_password_exits_1_with_the_protocol_message(host: Host) -> None:
    out = run(host, ["auth"], OPENSIM_PASSWORD="nope")
    assert out.returncode == 1
    assert f"failed to authenticate user {host.ids['Ada']}" in out.stderr


def test_unreachable_host_exits_1(host: Host) -> None:
    out = run(host, ["--url", "http://127.0.0.1:1/Dispatcher/", "probe"])
    assert out.returncode == 1 and "failed" in out.stderr


def test_objects_find_and_move(host: Host) -> None:
    with host.connect() as client:
        require(client, *("RemoteControl.Messages." + n for n in (
            "AddAssetRequest", "CreateObjectRequest", "FindObjectsRequest", "GetObjectDataRequest",
            "GetObjectPositionRequest", "SetObjectPositionRequest")))
        asset = box_asset("cli box")
        client.add_asset(asset)
        object_id = client.create_object(asset.asset_id or "", position=(10.0, 10.0, 25.0), name="cli box").object_id
    found = run(host, ["objects", "find", "--pattern", "^cli box$"])
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == f"{object_id}\tcli box\t10 10 25"
    moved = run(host, ["objects", "move", object_id, "1", "2", "3", "--relative"])
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.strip() == f"{object_id}\t11 12 28"
