"""Request envelopes and reply decoding, for JSON and BSON alike."""

from __future__ import annotations

import base64
import json
from typing import Any, Dict, Optional

from . import bson
from .errors import ProtocolError
from .messages import Request

__all__ = ["JSON", "BSON", "CONTENT_TYPES", "envelope", "encode", "decode_reply"]

JSON = "json"
BSON = "bson"
CONTENT_TYPES = {JSON: "application/json", BSON: "application/bson"}


def envelope(
    request: Request,
    scene: Optional[str],
    capability: Optional[str],
    asynchronous: bool = False,
) -> Dict[str, Any]:
    """The request as a wire object: ``$type`` first, then fields, then the envelope."""
    wire = request.to_wire()
    wire["_Domain"] = request.DOMAIN
    if scene is not None:
        wire["_Scene"] = scene
    if capability and not request.PRE_AUTH:
        wire["_Capability"] = capability
    wire["_AsyncRequest"] = bool(asynchronous)
    return wire


def _json_default(value: Any) -> Any:
    # Binary fields (a script's component) travel as base64 text in JSON.
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def encode(wire: Dict[str, Any], encoding: str) -> bytes:
    if encoding == BSON:
        return bson.encode(wire)
    return json.dumps(wire, separators=(",", ":"), ensure_ascii=False, default=_json_default).encode("utf-8")


def decode_reply(body: bytes, content_type: str) -> Dict[str, Any]:
    """Decode by the reply's media type (parameters and case ignored)."""
    media = content_type.split(";", 1)[0].strip().lower()
    try:
        if media == "application/bson":
            reply: Any = bson.decode(body)
        elif media in ("application/json", "text/json", "test/json"):
            reply = json.loads(body.decode("utf-8-sig"))
        else:
            raise ProtocolError(f"unexpected reply content type {content_type!r}")
    except (ValueError, UnicodeDecodeError) as err:
        raise ProtocolError(f"undecodable reply: {err}") from err
    if not isinstance(reply, dict):
        raise ProtocolError("reply is not an object")
    return reply

