"""Fixtures: a REAL ``dispatcher`` host per test module (or per test when asked).

The binary comes from ``$DISPATCHER_BIN`` or ``<repo>/target/debug/dispatcher``
(built with cargo when missing). Each host gets a temporary data directory
seeded through the operator CLI (accounts and the "Harbor Island" region), is
served on port 0, and is found through its readiness line.

Tests for RemoteControl and Scripting messages call :func:`require`, which skips
ONLY when the running host's ``InfoResponse.MessageList`` lacks the message
type, so they start running as soon as the handlers land.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from opensim_dispatcher import Client, Credentials

REPO = Path(__file__).resolve().parents[3]
REGION = "Harbor Island"
PASSWORD = "password"
PASSWORD_MD5 = "5f4dcc3b5aa765d61d8327deb882cf99"
OWNER = "Ada Lovelace"
MANAGER = "Bob Manager"
VISITOR = "Carol Visitor"
GOD = "Grace God"
READY = re.compile(r"^dispatcher ready http=(\S+):(\d+) udp=(\S+):(\d+)$")
# How long a host may take to print its readiness line.
READY_TIMEOUT_SECONDS = 30


def dispatcher_bin() -> Path:
    configured = os.environ.get("DISPATCHER_BIN")
    if configured:
        return Path(configured)
    path = REPO / "target" / "debug" / "dispatcher"
    if not path.exists():
        subprocess.run(["cargo", "build", "-p", "dispatcher"], cwd=REPO, check=True)
    return path


class Host:
    """A running ``dispatcher serve`` on free ports."""

    def __init__(self, ini: str = "") -> None:
        self.bin = dispatcher_bin()
        self._dir = tempfile.TemporaryDirectory(prefix="dispatcher-pytest-")
        self.dir = Path(self._dir.name)
        self.ids: Dict[str, str] = {}
        self._seed()
        config = self.dir / "dispatcher.ini"
        config.write_text(ini)
        self.process = subprocess.Popen(
            [str(self.bin), "--config", str(config), "--data-dir", str(self.dir), "serve", "--http-port", "0", "--udp-port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        line = self._readiness_line()
        match = READY.match(line.strip())
        if not match:
            self.stop()
            raise RuntimeError(f"unexpected readiness line {line!r}")
        self.http = f"{match.group(1)}:{match.group(2)}"
        self.udp = f"{match.group(3)}:{match.group(4)}"
        self.url = f"http://{self.http}/Dispatcher/"

    def _readiness_line(self) -> str:
        result: List[str] = []
        assert self.process.stdout is not None
        reader = threading.Thread(target=lambda: result.append(self.process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(READY_TIMEOUT_SECONDS)
        if not result or not result[0]:
            self.stop()
            raise RuntimeError("dispatcher printed no readiness line")
        return result[0]

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [str(self.bin), "--data-dir", str(self.dir), *args], capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            raise RuntimeError(f"dispatcher {args} failed: {out.stderr}")
        return out.stdout.strip()

    def _seed(self) -> None:
        for name, level, email in (
            (OWNER, "0", "ada@example.org"),
            (MANAGER, "0", "bob@example.org"),
            (VISITOR, "0", "carol@example.org"),
            (GOD, "250", "grace@example.org"),
        ):
            first, last = name.split(" ")
            self.ids[first] = self.cli(
                "user", "create", "--first", first, "--last", last, "--password", PASSWORD,
                "--email", email, "--level", level,
            )
        self.cli("region", "create", "--name", REGION, "--owner", OWNER, "--manager", MANAGER)

    def connect(self, who: str = OWNER, **kwargs: object) -> Client:
        return Client.connect(self.url, Credentials.from_name(who, PASSWORD), scene=REGION, **kwargs)  # type: ignore[arg-type]

    def env(self) -> Dict[str, str]:
        """Environment for examples and the command line."""
        env = dict(os.environ)
        env.update(
            OPENSIM_DISPATCHER_URL=self.url,
            OPENSIM_USER=OWNER,
            OPENSIM_PASSWORD=PASSWORD,
            OPENSIM_SCENE=REGION,
        )
        return env

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._dir.cleanup()


@pytest.fixture(scope="module")
def host() -> Iterator[Host]:
    h = Host()
    yield h
    h.stop()


@pytest.fixture
def fresh_host() -> Iterator[Host]:
    h = Host()
    yield h
    h.stop()


@pytest.fixture
def client(host: Host) -> Iterator[Client]:
    c = host.connect()
    yield c
    c.close()


def require(client: Client, *type_names: str) -> None:
    """Skip unless the running host offers every message type (InfoResponse.MessageList)."""
    info = client.info()
    missing = [t for t in type_names if not info.offers(t, client.scene)]
    if missing:
        pytest.skip(f"host does not offer {', '.join(missing)} yet (not in InfoResponse.MessageList)")


def python() -> str:
    return sys.executable


def component_path(name: str) -> Optional[Path]:
    """A built guest example (guest-examples/build.sh), or $DISPATCHER_TEST_COMPONENT."""
    configured = os.environ.get("DISPATCHER_TEST_COMPONENT")
    if configured:
        return Path(configured)
    path = REPO / "guest-examples" / "out" / f"{name}.wasm"
    return path if path.exists() else None
