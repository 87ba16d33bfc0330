"""A small BSON codec: exactly the subset the Dispatcher protocol uses.

Documents are ``dict``s (insertion order is kept, so ``$type`` stays first).
Supported element types: double, string, document, array, binary, boolean,
null, int32 and int64. Anything else is refused with :class:`BsonError`
rather than guessed at, so a malformed reply can never crash a caller with an
``IndexError`` or ``struct.error``.
"""

from __future__ import annotations

import struct
from typing import Any, Dict, List, Tuple

__all__ = ["BsonError", "encode", "decode"]

# Nesting cap for decoding, so a hostile document cannot exhaust the stack.
MAX_DEPTH_LEVELS = 64

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1


class BsonError(ValueError):
    """The bytes are not a BSON document this codec understands."""


def encode(document: Dict[str, Any]) -> bytes:
    """Encode a mapping as one BSON document."""
    return _encode_document(document)


def _cstring(name: str) -> bytes:
    raw = name.encode("utf-8")
    if b"\x00" in raw:
        raise BsonError(f"key {name!r} contains a NUL byte")
    return raw + b"\x00"


def _encode_document(document: Dict[str, Any]) -> bytes:
    body = b"".join(_encode_element(str(k), v) for k, v in document.items())
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def _encode_element(name: str, value: Any) -> bytes:
    key = _cstring(name)
    # bool before int: bool is a subclass of int in Python.
    if isinstance(value, bool):
        return b"\x08" + key + (b"\x01" if value else b"\x00")
    if value is None:
        return b"\x0a" + key
    if isinstance(value, int):
        if _INT32_MIN <= value <= _INT32_MAX:
            return b"\x10" + key + struct.pack("<i", value)
        return b"\x12" + key + struct.pack("<q", value)
    if isinstance(value, float):
        return b"\x01" + key + struct.pack("<d", value)
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return b"\x02" + key + struct.pack("<i", len(raw) + 1) + raw + b"\x00"
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return b"\x05" + key + struct.pack("<i", len(raw)) + b"\x00" + raw
    if isinstance(value, dict):
        return b"\x03" + key + _encode_document(value)
    if isinstance(value, (list, tuple)):
        as_doc = {str(i): v for i, v in enumerate(value)}
        return b"\x04" + key + _encode_document(as_doc)
    raise BsonError(f"cannot encode {type(value).__name__} for key {name!r}")


def decode(data: bytes) -> Dict[str, Any]:
    """Decode exactly one BSON document (trailing bytes are an error)."""
    doc, end = _decode_document(bytes(data), 0, 0)
    if end != len(data):
        raise BsonError("trailing bytes after the BSON document")
    return doc


def _need(data: bytes, pos: int, count: int) -> None:
    if pos + count > len(data) or count < 0:
        raise BsonError("truncated BSON document")


def _read_cstring(data: bytes, pos: int) -> Tuple[str, int]:
    end = data.find(b"\x00", pos)
    if end < 0:
        raise BsonError("unterminated key")
    return data[pos:end].decode("utf-8", errors="replace"), end + 1


def _decode_document(data: bytes, pos: int, depth: int) -> Tuple[Dict[str, Any], int]:
    if depth > MAX_DEPTH_LEVELS:
        raise BsonError("BSON nesting too deep")
    _need(data, pos, 4)
    (length,) = struct.unpack_from("<i", data, pos)
    if length < 5:
        raise BsonError("bad BSON document length")
    _need(data, pos, length)
    end = pos + length
    if data[end - 1] != 0:
        raise BsonError("BSON document not NUL-terminated")
    pos += 4
    out: Dict[str, Any] = {}
    while pos < end - 1:
        kind = data[pos]
        name, pos = _read_cstring(data, pos + 1)
        value, pos = _decode_value(kind, data, pos, depth)
        if pos > end - 1:
            raise BsonError("element runs past its document")
        out[name] = value
    return out, end


def _decode_value(kind: int, data: bytes, pos: int, depth: int) -> Tuple[Any, int]:
    if kind == 0x01:
        _need(data, pos, 8)
        return struct.unpack_from("<d", data, pos)[0], pos + 8
    if kind == 0x02:
        _need(data, pos, 4)
        (size,) = struct.unpack_from("<i", data, pos)
        _need(data, pos + 4, size)
        if size < 1:
            raise BsonError("bad string length")
        raw = data[pos + 4 : pos + 4 + size - 1]
        return raw.decode("utf-8", errors="replace"), pos + 4 + size
    if kind in (0x03, 0x04):
        doc, end = _decode_document(data, pos, depth + 1)
        if kind == 0x04:
            items: List[Any] = list(doc.values())
            return items, end
        return doc, end
    if kind == 0x05:
        _need(data, pos, 5)
        (size,) = struct.unpack_from("<i", data, pos)
        _need(data, pos + 5, size)
        return data[pos + 5 : pos + 5 + size], pos + 5 + size
    if kind == 0x08:
        _need(data, pos, 1)
        return data[pos] != 0, pos + 1
    if kind == 0x0A:
        return None, pos
    if kind == 0x10:
        _need(data, pos, 4)
        return struct.unpack_from("<i", data, pos)[0], pos + 4
    if kind == 0x12:
        _need(data, pos, 8)
        return struct.unpack_from("<q", data, pos)[0], pos + 8
    raise BsonError(f"unsupported BSON element type 0x{kind:02x}")
