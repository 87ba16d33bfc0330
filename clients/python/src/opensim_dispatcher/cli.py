"""``opensim-dispatcher``: the command line.

    opensim-dispatcher probe
    opensim-dispatcher auth
    opensim-dispatcher objects find [--pattern RE]
    opensim-dispatcher objects move OBJECT_ID X Y Z [--relative] [--udp]
    opensim-dispatcher script upload OBJECT_ID FILE.wasm [--name N] [--grant G]...
    opensim-dispatcher script logs SCRIPT_ID [--follow]

Connection options come from flags or the environment: ``--url``
(``OPENSIM_DISPATCHER_URL``), ``--user "First Last"`` (``OPENSIM_USER``),
``--password`` (``OPENSIM_PASSWORD``), ``--scene`` (``OPENSIM_SCENE``).
Exit status: 0 success, 1 the host refused the request or could not be
reached, 2 bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence

from .auth import Credentials
from .client import Client
from .errors import DispatcherError
from .messages import SetObjectPositionRequest

DEFAULT_URL = "http://127.0.0.1:9000/Dispatcher/"
# Poll period of `script logs --follow`.
FOLLOW_INTERVAL_SECONDS = 1.0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="opensim-dispatcher", description="Talk to an OpenSim Dispatcher host.")
    p.add_argument("--url", default=os.environ.get("OPENSIM_DISPATCHER_URL", DEFAULT_URL))
    p.add_argument("--user", default=os.environ.get("OPENSIM_USER"), help='"First Last"')
    p.add_argument("--password", default=os.environ.get("OPENSIM_PASSWORD"))
    p.add_argument("--scene", default=os.environ.get("OPENSIM_SCENE"))
    p.add_argument("--bson", action="store_true", help="speak BSON instead of JSON")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("probe", help="show bindings, scenes and the messages the host offers")
    sub.add_parser("auth", help="check credentials: create a capability and print it")

    objects = sub.add_parser("objects", help="find or move objects").add_subparsers(dest="action", required=True)
    find = objects.add_parser("find", help="list objects: id, name, position")
    find.add_argument("--pattern", help="regular expression searched in object names")
    move = objects.add_parser("move", help="move an object")
    move.add_argument("object_id")
    move.add_argument("x", type=float)
    move.add_argument("y", type=float)
    move.add_argument("z", type=float)
    move.add_argument("--relative", action="store_true", help="X Y Z is an offset from the current position")
    move.add_argument("--udp", action="store_true", help="fire and forget over UDP")

    script = sub.add_parser("script", help="upload scripts, read their logs").add_subparsers(
        dest="action", required=True
    )
    upload = script.add_parser("upload", help="upload a WebAssembly component into an object")
    upload.add_argument("object_id")
    upload.add_argument("component", type=Path)
    upload.add_argument("--name")
    upload.add_argument("--grant", action="append", default=[], help="repeat for several grants")
    upload.add_argument("--start-parameter", default=None)
    upload.add_argument("--no-start", action="store_true")
    logs = script.add_parser("logs", help="print a script's log")
    logs.add_argument("script_id")
    logs.add_argument("--since", type=int, default=0)
    logs.add_argument("--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("--max-seconds", type=float, default=None, help="stop following after this long")
    return p


def _connect(args: argparse.Namespace) -> Client:
    if not args.user or args.password is None:
        raise SystemExit("opensim-dispatcher: --user and --password (or OPENSIM_USER/OPENSIM_PASSWORD) are required")
    return Client.connect(
        args.url,
        Credentials.from_name(args.user, args.password),
        scene=args.scene,
        encoding="bson" if args.bson else "json",
    )


def _fmt(vector: Sequence[float]) -> str:
    return " ".join(f"{v:g}" for v in vector)


def _probe(args: argparse.Namespace) -> None:
    with Client(args.url, encoding="bson" if args.bson else "json") as client:
        info = client.info()
    print(f"http {info.synch_endpoint}")
    print(f"udp {info.async_endpoint}")
    for scene in info.scene_list:
        print(f"scene {scene}")
    for key in info.message_list:
        print(f"message {key}")


def _auth(args: argparse.Namespace) -> None:
    with _connect(args) as client:
        print(f"capability {client.capability}")
        print(f"lifespan {client.lifespan_seconds}")
        print(f"scene {client.scene}")


def _objects(args: argparse.Namespace) -> None:
    with _connect(args) as client:
        if args.action == "find":
            for object_id in client.find_objects(pattern=args.pattern).objects:
                data = client.get_object_data(object_id)
                print(f"{object_id}\t{data.name}\t{_fmt(data.position)}")
            return
        target = [args.x, args.y, args.z]
        if args.relative:
            current = client.get_object_position(args.object_id).position
            target = [c + d for c, d in zip(current, target)]
        if args.udp:
            client.send_packet(SetObjectPositionRequest(object_id=args.object_id, position=target))
            print(f"{args.object_id}\tsent {_fmt(target)}")
        else:
            reply = client.set_object_position(args.object_id, target)
            print(f"{args.object_id}\t{_fmt(reply.position)}")


def _script(args: argparse.Namespace) -> None:
    with _connect(args) as client:
        if args.action == "upload":
            reply = client.upload_script(
                args.object_id,
                args.name or args.component.stem,
                args.component.read_bytes(),
                grants=args.grant or None,
                start_parameter=args.start_parameter,
                start=False if args.no_start else None,
            )
            print(f"script {reply.script_id}")
            print(f"hash {reply.hash}")
            print(f"state {reply.state}")
            print(f"grants {' '.join(reply.grants)}")
            return
        since = args.since
        deadline = None if args.max_seconds is None else time.monotonic() + args.max_seconds
        while True:
            for line in client.get_script_log(args.script_id, since=since).lines:
                print(f"{line.seq}\t{line.time}\t{line.level}\t{line.text}", flush=True)
                since = max(since, line.seq)
            if not args.follow or (deadline is not None and time.monotonic() >= deadline):
                return
            time.sleep(FOLLOW_INTERVAL_SECONDS)


COMMANDS = {"probe": _probe, "auth": _auth, "objects": _objects, "script": _script}


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except DispatcherError as err:
        print(f"opensim-dispatcher: {err}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as err:
        print(f"opensim-dispatcher: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
