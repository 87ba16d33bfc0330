"""Run every tutorial example (docs/clients.md) against a real host.

Examples that use RemoteControl or Extensions messages skip ONLY while the
host's InfoResponse.MessageList lacks those message types; ``greet.py`` also
needs the built tutorial extension (guest-examples/out/ext-tutorial.wasm),
which the test installs first.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import List

import pytest
from conftest import REGION, Host, component_path, python, require

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RC = "RemoteControl.Messages."
EX = "Extensions.Messages."
NEEDS = {
    "connect.py": [],
    "create_objects.py": [RC + "AddAssetRequest", RC + "CreateObjectRequest", RC + "FindObjectsRequest"],
    "move_objects.py": [RC + "AddAssetRequest", RC + "CreateObjectRequest", RC + "SetObjectPositionRequest",
                        RC + "GetObjectPositionRequest", RC + "BulkDynamicsRequest"],
    "touches.py": [RC + "AddAssetRequest", RC + "CreateObjectRequest", RC + "RegisterTouchCallbackRequest",
                   RC + "UnregisterTouchCallbackRequest", RC + "TouchObjectRequest"],
    "greet.py": [EX + "InstallExtensionRequest"],
}
EXPECT = {
    "connect.py": ["regions: Harbor Island", "connected to Harbor Island"],
    "create_objects.py": ["created ", "the region has 5 tutorial boxes"],
    "move_objects.py": ["moved to (110.0, 100.0, 30.0)", "last frame at (109.0, 112.0, 25.0)"],
    "touches.py": ["touched "],
    "greet.py": ["Hello, Ada! (greeting number 1 in Harbor Island)"],
}


def install_tutorial(host: Host) -> None:
    """What docs/extensions.md does before greet.py: install the Greeter."""
    component = component_path("ext-tutorial")
    if component is None or component.name != "ext-tutorial.wasm":
        pytest.skip("guest-examples/out/ext-tutorial.wasm not built (run guest-examples/build.sh)")
    with host.connect() as client:
        client.install_extension(component.read_bytes(), scope=REGION, grants=["storage"])


SETUP = {"greet.py": install_tutorial}


def test_every_example_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(NEEDS)


@pytest.mark.parametrize("name", sorted(NEEDS))
def test_example_runs(fresh_host: Host, name: str) -> None:
    with fresh_host.connect() as client:
        require(client, *NEEDS[name])
    if name in SETUP:
        SETUP[name](fresh_host)
    out = subprocess.run([python(), str(EXAMPLES / name)], env=fresh_host.env(), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    for expected in EXPECT[name]:
        assert expected in out.stdout, out.stdout
