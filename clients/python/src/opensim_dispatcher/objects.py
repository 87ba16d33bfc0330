"""Helpers to make object assets, so a fresh region can be populated.

``CreateObjectRequest`` rezzes objects from object assets (OpenSim's serialised
object XML, content type ``application/vnd.ll.primitive``). A new host has
none, so :func:`box_asset` builds the smallest useful one: a single box prim,
optionally linked with more boxes as child parts.
"""

from __future__ import annotations

import uuid
from typing import Optional, Sequence, Tuple
from xml.sax.saxutils import escape

from .messages import AssetData

__all__ = ["OBJECT_CONTENT_TYPE", "box_object_xml", "box_asset"]

OBJECT_CONTENT_TYPE = "application/vnd.ll.primitive"


def _vec(tag: str, v: Sequence[float]) -> str:
    inner = "".join(f"<{axis}>{float(value)!r}</{axis}>" for axis, value in zip("XYZW", v))
    return f"<{tag}>{inner}</{tag}>"


def _part(name: str, link_num: int, offset: Sequence[float], scale: Sequence[float]) -> str:
    # ProfileCurve 1 (square) + PathCurve 16 (straight): a box; PCode 9: a prim.
    return (
        "<SceneObjectPart>"
        f"<UUID><UUID>{uuid.uuid4()}</UUID></UUID>"
        f"<Name>{escape(name)}</Name>"
        f"<LinkNum>{link_num}</LinkNum>"
        + _vec("OffsetPosition", offset)
        + _vec("RotationOffset", (0.0, 0.0, 0.0, 1.0))
        + _vec("Scale", scale)
        + "<Shape><PCode>9</PCode><ProfileCurve>1</ProfileCurve><PathCurve>16</PathCurve></Shape>"
        "</SceneObjectPart>"
    )


def box_object_xml(
    name: str = "Box",
    scale: Sequence[float] = (0.5, 0.5, 0.5),
    children: Sequence[Tuple[str, Sequence[float]]] = (),
) -> str:
    """Object XML for a box; ``children`` are ``(name, offset)`` pairs of linked boxes."""
    root_link = 1 if children else 0
    others = "".join(
        f"<Part>{_part(child, i + 2, offset, scale)}</Part>" for i, (child, offset) in enumerate(children)
    )
    return (
        "<SceneObjectGroup><RootPart>"
        + _part(name, root_link, (0.0, 0.0, 0.0), scale)
        + f"</RootPart><OtherParts>{others}</OtherParts></SceneObjectGroup>"
    )


def box_asset(
    name: str = "Box",
    scale: Sequence[float] = (0.5, 0.5, 0.5),
    children: Sequence[Tuple[str, Sequence[float]]] = (),
    asset_id: Optional[str] = None,
) -> AssetData:
    """An object asset ready for ``client.add_asset``; ``asset_id`` defaults to a new UUID."""
    return AssetData(
        asset_id=asset_id or str(uuid.uuid4()),
        # One trailing NUL, as OpenSim writes object assets (remote-control.md §5.1).
        data=box_object_xml(name, scale, children).encode("utf-8") + b"\x00",
        name=name,
        description=f"{name} (generated box)",
        content_type=OBJECT_CONTENT_TYPE,
    )
