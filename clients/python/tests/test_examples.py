"""Run every tutorial example (docs/clients.md) against a real host.

Examples that use RemoteControl messages skip ONLY while the host's
InfoResponse.MessageList lacks those message types.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import List

import pytest
from conftest import Host, python, require

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RC = "RemoteControl.Messages."
NEEDS = {
    "connect.py": [],
    "create_objects.py": [RC + "AddAssetRequest", RC + "CreateObjectRequest", RC + "FindObjectsRequest"],
    "move_objects.py": [RC + "AddAssetRequest", RC + "CreateObjectRequest", RC + "SetObjectPositionRequest",
                        RC + "GetObjectPositionRequest", RC + "BulkDynamicsRequest"],
    "touches.py": [RC + "AddAssetRequest", RC + "CreateObjectRequest", RC + "RegisterTouchCallbackRequest",
                   RC + "UnregisterTouchCallbackRequest", RC + "TouchObjectRequest"],
}
EXPECT = {
    "connect.py": ["regions: Harbor Island", "connected to Harbor Island"],
    "create_objects.py": ["created ", "the region has 5 tutorial boxes"],
    "move_objects.py": ["moved to (110.0, 100.0, 30.0)", "last frame at (109.0, 112.0, 25.0)"],
    "touches.py": ["touched "],
}


def test_every_example_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(NEEDS)


@pytest.mark.parametrize("name", sorted(NEEDS))
def test_example_runs(fresh_host: Host, name: str) -> None:
    with fresh_host.connect() as client:
        require(client, *NEEDS[name])
    out = subprocess.run([python(), str(EXAMPLES / name)], env=fresh_host.env(), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    for expected in EXPECT[name]:
        assert expected in out.stdout, out.stdout
