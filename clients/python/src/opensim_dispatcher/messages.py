"""Message definitions shared by the blocking and the asyncio client.

Every request is a dataclass whose fields carry their wire name; ``None`` means
"not sent" so the server applies the protocol default. Every reply is parsed
into a response dataclass; member names are matched without regard to case,
as the protocol itself does. The per-message client methods
(``client.get_object_position(...)``) are generated from the request classes
listed in :data:`REQUESTS` (see ``tools/generate_api.py``).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple, Type, TypeVar, Union

__all__ = [
    "UUIDLike",
    "Vector3",
    "Quaternion",
    "ZERO_UUID",
    "Request",
    "Response",
    "REQUESTS",
    "GenericRequest",
    "domain_of",
]

UUIDLike = Union[str, uuid.UUID]
Vector3 = Tuple[float, float, float]
Quaternion = Tuple[float, float, float, float]
ZERO_UUID = "00000000-0000-0000-0000-000000000000"

DISPATCHER = "Dispatcher"
REMOTE_CONTROL = "RemoteControl"
SCRIPTING = "Scripting"
EXTENSIONS = "Extensions"


# ----- wire value conversions ------------------------------------------------------


def _uuid_out(value: Any) -> str:
    return str(value).lower()


def _vector_out(value: Sequence[float]) -> List[float]:
    return [float(v) for v in value]


def _to_wire_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Wire):
        return value.to_wire()
    if isinstance(value, (list, tuple)):
        return [_to_wire_value(v) for v in value]
    return value


def _uuid_in(value: Any) -> str:
    return ZERO_UUID if value is None else str(value).lower()


def _vector_in(value: Any) -> Tuple[float, ...]:
    if not isinstance(value, (list, tuple)):
        return ()
    return tuple(float(v) for v in value)


def _str_in(value: Any) -> str:
    return "" if value is None else str(value)


def _int_in(value: Any) -> int:
    return int(value) if value is not None else 0


def _float_in(value: Any) -> float:
    return float(value) if value is not None else 0.0


def _bool_in(value: Any) -> bool:
    return bool(value)


def _bytes_in(value: Any) -> bytes:
    """Binary (BSON) as is, a base64 string (JSON) decoded."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return base64.b64decode("".join(value.split()))
    return b""


def _list_in(item: Callable[[Any], Any]) -> Callable[[Any], List[Any]]:
    def convert(value: Any) -> List[Any]:
        return [item(v) for v in value] if isinstance(value, list) else []

    return convert


def _nested_in(cls: "Type[Wire]") -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        return cls.from_wire(value) if isinstance(value, Mapping) else None

    return convert


def _w(
    wire: str,
    default: Any = None,
    conv: Optional[Callable[[Any], Any]] = None,
    factory: Any = None,
    required: bool = False,
) -> Any:
    """A field with its wire name (and, for replies, its converter). ``required``
    makes it a positional parameter of the generated client method; a UUID field
    whose default is the zero UUID is always required."""
    meta = {"wire": wire, "conv": conv, "required": required}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _lookup(mapping: Mapping[str, Any], wire: str) -> Any:
    """Case-insensitive member lookup; an exact match wins (as on the server)."""
    if wire in mapping:
        return mapping[wire]
    lowered = wire.lower()
    for key, value in mapping.items():
        if key.lower() == lowered:
            return value
    return None


W = TypeVar("W", bound="Wire")
R = TypeVar("R", bound="Response")
SR = TypeVar("SR", bound="ScriptStatusResponse")
SL = TypeVar("SL", bound="ScriptLogLine")
ER = TypeVar("ER", bound="ExtensionStatusResponse")


class Wire:
    """A dataclass that converts to and from a wire object by field metadata."""

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        type_name = getattr(self, "TYPE", None)
        if type_name:
            out["$type"] = type_name
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is not None and "wire" in f.metadata:
                if "Sequence[float]" in str(f.type):
                    value = _vector_out(value)
                out[f.metadata["wire"]] = _to_wire_value(value)
        return out

    @classmethod
    def from_wire(cls: Type[W], mapping: Mapping[str, Any]) -> W:
        kwargs: Dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            conv = f.metadata.get("conv")
            wire = f.metadata.get("wire")
            if wire is None or conv is None:
                continue
            kwargs[f.name] = conv(_lookup(mapping, wire))
        return cls(**kwargs)


# ----- replies -------------------------------------------------------------------------


@dataclass
class Response(Wire):
    """Any reply: ``success`` is 0 failure, 1 success, 2 queued; ``message`` holds
    the failure text or, for bulk operations, the concatenated warnings."""

    type_name: str = _w("$type", "", _str_in)
    success: int = _w("_Success", 1, _int_in)
    message: str = _w("_Message", "", _str_in)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls: Type[R], mapping: Mapping[str, Any]) -> R:
        reply = super().from_wire(mapping)
        reply.raw = dict(mapping)
        return reply

    @property
    def queued(self) -> bool:
        return self.success == 2


@dataclass
class InfoResponse(Response):
    async_endpoint: str = _w("AsyncEndPoint", "", _str_in)
    synch_endpoint: str = _w("SynchEndPoint", "", _str_in)
    scene_list: List[str] = _w("SceneList", conv=_list_in(_str_in), factory=list)
    message_list: List[str] = _w("MessageList", conv=_list_in(_str_in), factory=list)

    def offers(self, type_name: str, scene: Optional[str] = None) -> bool:
        """Whether a handler for ``type_name`` is registered (for ``scene`` or any scene)."""
        for key in self.message_list:
            parts = key.split("::")
            if parts[-1] != type_name:
                continue
            if scene is None or len(parts) < 3 or parts[0] == scene:
                return True
        return False


@dataclass
class MessageFormatResponse(Response):
    sample_message: str = _w("SampleMessage", "", _str_in)

    @property
    def sample(self) -> Dict[str, Any]:
        """The sample request, parsed (it is JSON text even over BSON)."""
        parsed = json.loads(self.sample_message) if self.sample_message else {}
        return parsed if isinstance(parsed, dict) else {}


@dataclass
class CapabilityResponse(Response):
    capability: str = _w("Capability", ZERO_UUID, _uuid_in)
    life_span: int = _w("LifeSpan", 0, _int_in)


@dataclass
class CreateEndPointResponse(Response):
    end_point_id: str = _w("EndPointID", ZERO_UUID, _uuid_in)
    life_span: int = _w("LifeSpan", 0, _int_in)


@dataclass
class FindObjectsResponse(Response):
    objects: List[str] = _w("Objects", conv=_list_in(_uuid_in), factory=list)


@dataclass
class GetObjectDataResponse(Response):
    object_id: str = _w("ObjectID", ZERO_UUID, _uuid_in)
    name: str = _w("Name", "", _str_in)
    position: Tuple[float, ...] = _w("Position", (), _vector_in)
    rotation: Tuple[float, ...] = _w("Rotation", (), _vector_in)
    owner_id: str = _w("OwnerID", ZERO_UUID, _uuid_in)


@dataclass
class PartInformation(Wire):
    link_num: int = _w("LinkNum", 0, _int_in)
    name: str = _w("Name", "", _str_in)
    description: str = _w("Description", "", _str_in)
    type: int = _w("Type", 0, _int_in)
    offset_position: Tuple[float, ...] = _w("OffsetPosition", (), _vector_in)
    offset_rotation: Tuple[float, ...] = _w("OffsetRotation", (), _vector_in)


@dataclass
class GetObjectPartsResponse(Response):
    parts: List[PartInformation] = _w("Parts", conv=_list_in(_nested_in(PartInformation)), factory=list)


@dataclass
class ObjectInventoryInformation(Wire):
    name: str = _w("Name", "", _str_in)
    description: str = _w("Description", "", _str_in)
    asset_id: str = _w("AssetID", ZERO_UUID, _uuid_in)
    item_type: int = _w("ItemType", 0, _int_in)


@dataclass
class GetObjectInventoryResponse(Response):
    inventory: List[ObjectInventoryInformation] = _w(
        "Inventory", conv=_list_in(_nested_in(ObjectInventoryInformation)), factory=list
    )


@dataclass
class ObjectPositionResponse(Response):
    object_id: str = _w("ObjectID", ZERO_UUID, _uuid_in)
    position: Tuple[float, ...] = _w("Position", (), _vector_in)


@dataclass
class ObjectRotationResponse(Response):
    object_id: str = _w("ObjectID", ZERO_UUID, _uuid_in)
    rotation: Tuple[float, ...] = _w("Rotation", (), _vector_in)


@dataclass
class CreateObjectResponse(Response):
    object_id: str = _w("ObjectID", ZERO_UUID, _uuid_in)


@dataclass
class AssetData(Wire):
    """An asset record; ``data`` is the raw bytes (base64 on the wire). The zero
    ``asset_id`` lets ``add_asset`` choose a new id (returned in its reply)."""

    asset_id: UUIDLike = ZERO_UUID
    data: bytes = b""
    name: str = ""
    description: str = ""
    content_type: str = ""
    creator_id: str = ""

    def to_wire(self) -> Dict[str, Any]:
        return {
            "AssetID": _uuid_out(self.asset_id),
            "SerializedAsset": base64.b64encode(self.data).decode("ascii"),
            "Name": self.name,
            "Description": self.description,
            "ContentType": self.content_type,
            "CreatorID": self.creator_id,
        }

    @classmethod
    def from_wire(cls: Type[W], mapping: Mapping[str, Any]) -> W:
        encoded = _str_in(_lookup(mapping, "SerializedAsset"))
        return cls(  # type: ignore[call-arg]
            asset_id=_uuid_in(_lookup(mapping, "AssetID")),
            data=base64.b64decode("".join(encoded.split())) if encoded else b"",
            name=_str_in(_lookup(mapping, "Name")),
            description=_str_in(_lookup(mapping, "Description")),
            content_type=_str_in(_lookup(mapping, "ContentType")),
            creator_id=_str_in(_lookup(mapping, "CreatorID")),
        )


@dataclass
class TestAssetResponse(Response):
    __test__ = False  # not a pytest test class despite its name
    exists: bool = _w("Exists", False, _bool_in)


@dataclass
class GetAssetResponse(Response):
    asset: Optional[AssetData] = _w("Asset", None, _nested_in(AssetData))


@dataclass
class AddAssetResponse(Response):
    asset_id: str = _w("AssetID", ZERO_UUID, _uuid_in)


@dataclass
class GetDependentAssetsResponse(Response):
    dependent_assets: List[str] = _w("DependentAssets", conv=_list_in(_uuid_in), factory=list)


@dataclass
class AvatarAppearanceResponse(Response):
    serialized_appearance: str = _w("SerializedAppearance", "", _str_in)

    @property
    def appearance(self) -> Dict[str, Any]:
        """The appearance document, parsed (it travels as JSON text)."""
        parsed = json.loads(self.serialized_appearance) if self.serialized_appearance else {}
        return parsed if isinstance(parsed, dict) else {}


@dataclass
class SunParametersResponse(Response):
    year_length: float = _w("YearLength", 0.0, _float_in)
    day_length: float = _w("DayLength", 0.0, _float_in)
    horizon_shift: float = _w("HorizonShift", 0.0, _float_in)
    day_time_sun_hour_scale: float = _w("DayTimeSunHourScale", 0.0, _float_in)
    current_time: float = _w("CurrentTime", 0.0, _float_in)


@dataclass
class TerrainHeightResponse(Response):
    x: int = _w("X", 0, _int_in)
    y: int = _w("Y", 0, _int_in)
    height: float = _w("Height", 0.0, _float_in)


@dataclass
class ImportOarResponse(Response):
    objects: int = _w("Objects", 0, _int_in)
    parts: int = _w("Parts", 0, _int_in)
    assets: int = _w("Assets", 0, _int_in)
    terrain: bool = _w("Terrain", False, _bool_in)
    kept: int = _w("Kept", 0, _int_in)


@dataclass
class ExportOarResponse(Response):
    archive: bytes = _w("Archive", b"", _bytes_in)
    objects: int = _w("Objects", 0, _int_in)
    assets: int = _w("Assets", 0, _int_in)


@dataclass
class RegisterTouchCallbackResponse(Response):
    request_id: str = _w("RequestID", ZERO_UUID, _uuid_in)


@dataclass
class RegisterUpdatedCallbackResponse(Response):
    request_id: str = _w("RequestID", ZERO_UUID, _uuid_in)


@dataclass
class ScriptStatus(Wire):
    script_id: str = _w("ScriptID", ZERO_UUID, _uuid_in)
    object_id: str = _w("ObjectID", ZERO_UUID, _uuid_in)
    name: str = _w("Name", "", _str_in)
    hash: str = _w("Hash", "", _str_in)
    state: str = _w("State", "", _str_in)
    grants: List[str] = _w("Grants", conv=_list_in(_str_in), factory=list)
    fault_reason: str = _w("FaultReason", "", _str_in)
    events_handled: int = _w("EventsHandled", 0, _int_in)
    events_dropped: int = _w("EventsDropped", 0, _int_in)
    cpu_micros: int = _w("CpuMicros", 0, _int_in)
    fuel_consumed: int = _w("FuelConsumed", 0, _int_in)
    memory_bytes: int = _w("MemoryBytes", 0, _int_in)
    restarts: int = _w("Restarts", 0, _int_in)


@dataclass
class UploadScriptResponse(Response):
    script_id: str = _w("ScriptID", ZERO_UUID, _uuid_in)
    asset_id: str = _w("AssetID", ZERO_UUID, _uuid_in)
    hash: str = _w("Hash", "", _str_in)
    grants: List[str] = _w("Grants", conv=_list_in(_str_in), factory=list)
    state: str = _w("State", "", _str_in)


@dataclass
class UpdateScriptResponse(Response):
    script_id: str = _w("ScriptID", ZERO_UUID, _uuid_in)
    asset_id: str = _w("AssetID", ZERO_UUID, _uuid_in)
    hash: str = _w("Hash", "", _str_in)
    grants: List[str] = _w("Grants", conv=_list_in(_str_in), factory=list)
    state: str = _w("State", "", _str_in)
    rolled_back: bool = _w("RolledBack", False, _bool_in)
    message: str = _w("Message", "", _str_in)


@dataclass
class ListScriptsResponse(Response):
    scripts: List[ScriptStatus] = _w("Scripts", conv=_list_in(_nested_in(ScriptStatus)), factory=list)


def _status_in(value: Any) -> Any:
    return ScriptStatus.from_wire(value) if isinstance(value, Mapping) else None


@dataclass
class ScriptStatusResponse(Response):
    status: Optional[ScriptStatus] = None

    @classmethod
    def from_wire(cls: Type[SR], mapping: Mapping[str, Any]) -> SR:
        reply = super().from_wire(mapping)
        # The record may be nested (``Status``/``Script``) or spread over the reply.
        nested = _lookup(mapping, "Status") or _lookup(mapping, "Script")
        reply.status = _status_in(nested if isinstance(nested, Mapping) else mapping)
        return reply


@dataclass
class ScriptLogLine(Wire):
    seq: int = _w("Seq", 0, _int_in)
    time: str = _w("Time", "", _str_in)
    level: str = _w("Level", "", _str_in)
    text: str = _w("Text", "", _str_in)

    @classmethod
    def from_wire(cls: Type[SL], mapping: Mapping[str, Any]) -> SL:
        line = super().from_wire(mapping)
        if not line.seq:
            line.seq = _int_in(_lookup(mapping, "Sequence"))
        return line


@dataclass
class ScriptLogResponse(Response):
    lines: List[ScriptLogLine] = _w("Lines", conv=_list_in(_nested_in(ScriptLogLine)), factory=list)


@dataclass
class ExtensionStatus(Wire):
    """An extension's status record (extensions.md §3)."""

    extension_id: str = _w("ExtensionID", ZERO_UUID, _uuid_in)
    domain: str = _w("Domain", "", _str_in)
    version: str = _w("Version", "", _str_in)
    scope: str = _w("Scope", "", _str_in)
    hash: str = _w("Hash", "", _str_in)
    state: str = _w("State", "", _str_in)
    grants: List[str] = _w("Grants", conv=_list_in(_str_in), factory=list)
    fault_reason: str = _w("FaultReason", "", _str_in)
    requests_handled: int = _w("RequestsHandled", 0, _int_in)
    requests_failed: int = _w("RequestsFailed", 0, _int_in)
    cpu_micros: int = _w("CpuMicros", 0, _int_in)
    memory_bytes: int = _w("MemoryBytes", 0, _int_in)
    restarts: int = _w("Restarts", 0, _int_in)
    installed_by: str = _w("InstalledBy", ZERO_UUID, _uuid_in)


def _message_type_in(value: Any) -> str:
    """A served message type: its request type name, whether the host lists it
    as text or as a record (``RequestType``)."""
    if isinstance(value, Mapping):
        return _str_in(_lookup(value, "RequestType") or _lookup(value, "Request") or _lookup(value, "MessageType"))
    return _str_in(value)


@dataclass
class InstallExtensionResponse(Response):
    extension_id: str = _w("ExtensionID", ZERO_UUID, _uuid_in)
    domain: str = _w("Domain", "", _str_in)
    version: str = _w("Version", "", _str_in)
    message_types: List[str] = _w("MessageTypes", conv=_list_in(_message_type_in), factory=list)
    hash: str = _w("Hash", "", _str_in)
    grants: List[str] = _w("Grants", conv=_list_in(_str_in), factory=list)
    state: str = _w("State", "", _str_in)


@dataclass
class ListExtensionsResponse(Response):
    extensions: List[ExtensionStatus] = _w(
        "Extensions", conv=_list_in(_nested_in(ExtensionStatus)), factory=list
    )


@dataclass
class ExtensionStatusResponse(Response):
    status: Optional[ExtensionStatus] = None

    @classmethod
    def from_wire(cls: Type[ER], mapping: Mapping[str, Any]) -> ER:
        reply = super().from_wire(mapping)
        # The record may be nested (``Status``/``Extension``) or spread over the reply.
        nested = _lookup(mapping, "Status") or _lookup(mapping, "Extension")
        source = nested if isinstance(nested, Mapping) else mapping
        reply.status = ExtensionStatus.from_wire(source)
        return reply


# ----- nested request records --------------------------------------------------------


@dataclass
class ObjectDynamics(Wire):
    """One entry of BulkDynamics (and the placement of a bulk-created object).
    Members left at ``None`` are not sent, so the object keeps its current value."""

    object_id: UUIDLike = _w("ObjectID", ZERO_UUID)
    position: Optional[Sequence[float]] = _w("Position")
    velocity: Optional[Sequence[float]] = _w("Velocity")
    acceleration: Optional[Sequence[float]] = _w("Acceleration")
    rotation: Optional[Sequence[float]] = _w("Rotation")


@dataclass
class ObjectSpecification(Wire):
    """One object of CreateBulkObjects; ``object_data.object_id`` chooses its id."""

    asset_id: UUIDLike = _w("AssetID", ZERO_UUID)
    object_data: Optional[ObjectDynamics] = _w("ObjectData")
    name: Optional[str] = _w("Name")
    description: Optional[str] = _w("Description")
    start_parameter: Optional[str] = _w("StartParameter")


# ----- requests ----------------------------------------------------------------------


@dataclass
class Request(Wire):
    TYPE: ClassVar[str] = ""
    DOMAIN: ClassVar[str] = DISPATCHER
    RESPONSE: ClassVar[Type[Response]] = Response
    #: Pre-authentication messages need no capability.
    PRE_AUTH: ClassVar[bool] = False


def _rc(name: str, response: Type[Response] = Response) -> Callable[[type], type]:
    def wrap(cls: type) -> type:
        cls.TYPE = f"RemoteControl.Messages.{name}"  # type: ignore[attr-defined]
        cls.DOMAIN = REMOTE_CONTROL  # type: ignore[attr-defined]
        cls.RESPONSE = response  # type: ignore[attr-defined]
        return cls

    return wrap


def _sc(name: str, response: Type[Response] = Response) -> Callable[[type], type]:
    def wrap(cls: type) -> type:
        cls.TYPE = f"Scripting.Messages.{name}"  # type: ignore[attr-defined]
        cls.DOMAIN = SCRIPTING  # type: ignore[attr-defined]
        cls.RESPONSE = response  # type: ignore[attr-defined]
        return cls

    return wrap


# Dispatcher domain (dispatcher-core.md §6)


@dataclass
class InfoRequest(Request):
    """Bindings, hosted scenes and every registered message handler."""

    TYPE = "Dispatcher.Messages.InfoRequest"
    RESPONSE = InfoResponse
    PRE_AUTH = True


@dataclass
class MessageFormatRequest(Request):
    """A sample of a request type with all its defaults."""

    TYPE = "Dispatcher.Messages.MessageFormatRequest"
    RESPONSE = MessageFormatResponse
    PRE_AUTH = True
    message_name: str = _w("MessageName", "", required=True)


@dataclass
class CreateCapabilityRequest(Request):
    """A new capability (usually done for you by ``Client.connect``)."""

    TYPE = "Dispatcher.Messages.CreateCapabilityRequest"
    RESPONSE = CapabilityResponse
    PRE_AUTH = True
    hashed_passwd: str = _w("HashedPasswd", "", required=True)
    first_name: Optional[str] = _w("FirstName")
    last_name: Optional[str] = _w("LastName")
    email_address: Optional[str] = _w("EmailAddress")
    user_id: Optional[UUIDLike] = _w("UserID")
    life_span: Optional[int] = _w("LifeSpan")
    domain_list: Optional[List[str]] = _w("DomainList")


@dataclass
class RenewCapabilityRequest(Request):
    """Extend the client's capability (seconds; clamped by the server)."""

    TYPE = "Dispatcher.Messages.RenewCapabilityRequest"
    RESPONSE = CapabilityResponse
    life_span: Optional[int] = _w("LifeSpan")


@dataclass
class DestroyCapabilityRequest(Request):
    """Invalidate the client's capability."""

    TYPE = "Dispatcher.Messages.DestroyCapabilityRequest"


@dataclass
class CreateEndPointRequest(Request):
    """Register a UDP address for callbacks (lifespan in milliseconds)."""

    TYPE = "Dispatcher.Messages.CreateEndPointRequest"
    RESPONSE = CreateEndPointResponse
    callback_host: str = _w("CallbackHost", "", required=True)
    callback_port: int = _w("CallbackPort", 0, required=True)
    life_span: Optional[int] = _w("LifeSpan")


@dataclass
class RenewEndPointRequest(Request):
    """Keep a callback endpoint alive (lifespan in milliseconds)."""

    TYPE = "Dispatcher.Messages.RenewEndPointRequest"
    RESPONSE = CreateEndPointResponse
    end_point_id: UUIDLike = _w("EndPointID", ZERO_UUID)
    life_span: Optional[int] = _w("LifeSpan")


@dataclass
class CloseEndPointRequest(Request):
    """Remove a callback endpoint and every registration bound to it."""

    TYPE = "Dispatcher.Messages.CloseEndPointRequest"
    end_point_id: UUIDLike = _w("EndPointID", ZERO_UUID)


# RemoteControl domain (remote-control.md §4)


@_rc("FindObjectsRequest", FindObjectsResponse)
@dataclass
class FindObjectsRequest(Request):
    """Ids of objects matching a name pattern, a box and an owner (all optional)."""

    pattern: Optional[str] = _w("Pattern")
    coordinate_a: Optional[Sequence[float]] = _w("CoordinateA")
    coordinate_b: Optional[Sequence[float]] = _w("CoordinateB")
    owner_id: Optional[UUIDLike] = _w("OwnerID")


@_rc("GetObjectDataRequest", GetObjectDataResponse)
@dataclass
class GetObjectDataRequest(Request):
    """Name, position, rotation and owner of an object."""

    object_id: UUIDLike = _w("ObjectID", ZERO_UUID)


@_rc("GetObjectPartsRequest", GetObjectPartsResponse)
@dataclass
class GetObjectPartsRequest(Request):
    """Every part of an object, root first."""

    object_id: UUIDLike = _w("ObjectID", ZERO_UUID)


@_rc("GetObjectInventoryRequest", GetObjectInventoryResponse)
@dataclass
class GetObjectInventoryRequest(Request):
    """The items in an object's root part."""

    object_id: UUIDLike = _w("ObjectID", ZERO_UUID)


@_rc("GetObjectPositionRequest", ObjectPositionResponse)
@dataclass
class GetObjectPositionRequest(Request):
    """An object's absolute position."""

    object_id: UUIDLike = _w("ObjectID", ZERO_UUID)


@_rc("SetObjectPositionRequest", ObjectPositionResponse)
@dataclass
class SetObjectPositionRequest(Request):
    """Move an object; the reply holds the position after the move."""

    object_id: UUIDLike = _w("ObjectID", ZERO_UUID)
    position: Sequence[float] = _w("Position", (128.0, 128.0, 20.0))


@_rc("GetObjectRotationRequest", ObjectRotationResponse)
@dataclass
class GetObjectRotationRequest(Request):
    """An object's rotation as ``(x, y, z, w)``."""

    object_id: UUIDLike = _w("ObjectID", ZERO_UUID)


@_rc("SetObjectRotationRequest", ObjectRotationResponse)
@dataclass
class SetObjectRotationRequest(Request):
    """Rotate an object about its root."""

    object_id: UUIDLike = _w("ObjectID", ZERO_UUID)
    rotation: Sequence[float] = _w("Rotation", (0.0, 0.0, 0.0, 1.0))


@_rc("BulkDynamicsRequest")
@dataclass
class BulkDynamicsRequest(Request):
    """Apply many position/velocity/rotation updates at once (good over UDP)."""

    updates: List[ObjectDynamics] = _w("Updates", factory=list)


@_rc("CreateObjectRequest", CreateObjectResponse)
@dataclass
class CreateObjectRequest(Request):
    """Rez an object from an object asset; ``object_id`` chooses its id."""

    asset_id: UUIDLike = _w("AssetID", ZERO_UUID)
    position: Optional[Sequence[float]] = _w("Position")
    rotation: Optional[Sequence[float]] = _w("Rotation")
    velocity: Optional[Sequence[float]] = _w("Velocity")
    name: Optional[str] = _w("Name")
    description: Optional[str] = _w("Description")
    start_parameter: Optional[str] = _w("StartParameter")
    object_id: Optional[UUIDLike] = _w("ObjectID")


@_rc("CreateBulkObjectsRequest")
@dataclass
class CreateBulkObjectsRequest(Request):
    """Rez many objects; problems come back as warnings in ``message``."""

    objects: List[ObjectSpecification] = _w("Objects", factory=list)


@_rc("DeleteObjectRequest")
@dataclass
class DeleteObjectRequest(Request):
    """Delete one object."""

    object_id: UUIDLike = _w("ObjectID", ZERO_UUID)


@_rc("DeleteBulkObjectsRequest")
@dataclass
class DeleteBulkObjectsRequest(Request):
    """Delete many objects; unknown ids come back as warnings in ``message``."""

    object_ids: List[UUIDLike] = _w("ObjectIDs", factory=list)


@_rc("DeleteAllObjectsRequest")
@dataclass
class DeleteAllObjectsRequest(Request):
    """Delete every object in the region."""


@_rc("MessageObjectRequest")
@dataclass
class MessageObjectRequest(Request):
    """Send a ``dataserver`` event to an object's scripts."""

    object_id: UUIDLike = _w("ObjectID", ZERO_UUID)
    message: str = _w("Message", "", required=True)


@_rc("SetPartPositionRequest")
@dataclass
class SetPartPositionRequest(Request):
    """Set a part's offset from the root (link 0 = root)."""

    object_id: UUIDLike = _w("ObjectID", ZERO_UUID)
    link_num: int = _w("LinkNum", 0)
    position: Sequence[float] = _w("Position", (0.0, 0.0, 0.0))


@_rc("SetPartRotationRequest")
@dataclass
class SetPartRotationRequest(Request):
    """Set a part's rotation relative to the root (link 0 = root)."""

    object_id: UUIDLike = _w("ObjectID", ZERO_UUID)
    link_num: int = _w("LinkNum", 0)
    rotation: Sequence[float] = _w("Rotation", (0.0, 0.0, 0.0, 1.0))


@_rc("SetPartScaleRequest")
@dataclass
class SetPartScaleRequest(Request):
    """Set a part's size in metres."""

    object_id: UUIDLike = _w("ObjectID", ZERO_UUID)
    link_num: int = _w("LinkNum", 0)
    scale: Sequence[float] = _w("Scale", (1.0, 1.0, 1.0))


@_rc("SetPartColorRequest")
@dataclass
class SetPartColorRequest(Request):
    """Colour every face of a part; ``alpha`` defaults to opaque (the wire default is 0)."""

    object_id: UUIDLike = _w("ObjectID", ZERO_UUID)
    link_num: int = _w("LinkNum", 0)
    color: Sequence[float] = _w("Color", (1.0, 1.0, 1.0))
    alpha: float = _w("Alpha", 1.0)


@_rc("TestAssetRequest", TestAssetResponse)
@dataclass
class TestAssetRequest(Request):
    """Whether the asset store holds an id."""

    __test__ = False
    asset_id: UUIDLike = _w("AssetID", ZERO_UUID)


@_rc("GetAssetRequest", GetAssetResponse)
@dataclass
class GetAssetRequest(Request):
    """An asset record with its bytes."""

    asset_id: UUIDLike = _w("AssetID", ZERO_UUID)


@_rc("AddAssetRequest", AddAssetResponse)
@dataclass
class AddAssetRequest(Request):
    """Store an asset (an existing id is kept unchanged); returns its id."""

    asset: AssetData = _w("Asset", factory=AssetData, required=True)


@_rc("GetAssetFromObjectRequest", GetAssetResponse)
@dataclass
class GetAssetFromObjectRequest(Request):
    """Serialise an object into a new object asset."""

    object_id: UUIDLike = _w("ObjectID", ZERO_UUID)


@_rc("GetDependentAssetsRequest", GetDependentAssetsResponse)
@dataclass
class GetDependentAssetsRequest(Request):
    """Every asset an asset needs, itself included."""

    asset_id: UUIDLike = _w("AssetID", ZERO_UUID)


@_rc("GetAvatarAppearanceRequest", AvatarAppearanceResponse)
@dataclass
class GetAvatarAppearanceRequest(Request):
    """An avatar's appearance (the caller's when no id is given)."""

    avatar_id: Optional[UUIDLike] = _w("AvatarID")


@_rc("SetAvatarAppearanceRequest")
@dataclass
class SetAvatarAppearanceRequest(Request):
    """Replace an avatar's appearance with a JSON document."""

    serialized_appearance: str = _w("SerializedAppearance", "", required=True)
    avatar_id: Optional[UUIDLike] = _w("AvatarID")


@_rc("ChatRequest")
@dataclass
class ChatRequest(Request):
    """Say something in the region on a channel."""

    message: str = _w("Message", "Hello")
    position: Optional[Sequence[float]] = _w("Position")
    channel: Optional[int] = _w("Channel")


@_rc("GetSunParametersRequest", SunParametersResponse)
@dataclass
class GetSunParametersRequest(Request):
    """The region's sun settings and current sun time."""


@_rc("SetSunParametersRequest", SunParametersResponse)
@dataclass
class SetSunParametersRequest(Request):
    """Change the sun; ``current_time`` (hours) is always applied, the rest only when > 0."""

    current_time: float = _w("CurrentTime", 0.0)
    day_length: Optional[float] = _w("DayLength")
    year_length: Optional[float] = _w("YearLength")
    horizon_shift: Optional[float] = _w("HorizonShift")
    day_time_sun_hour_scale: Optional[float] = _w("DayTimeSunHourScale")


@_rc("GetTerrainHeightRequest", TerrainHeightResponse)
@dataclass
class GetTerrainHeightRequest(Request):
    """Terrain height of one cell (integer metres east, north)."""

    x: int = _w("X", 0)
    y: int = _w("Y", 0)


@_rc("SetTerrainHeightRequest", TerrainHeightResponse)
@dataclass
class SetTerrainHeightRequest(Request):
    """Set the terrain height of one cell."""

    x: int = _w("X", 0)
    y: int = _w("Y", 0)
    height: float = _w("Height", 20.0)


@_rc("ImportOarRequest", ImportOarResponse)
@dataclass
class ImportOarRequest(Request):
    """Load an OpenSim region archive (OAR) into the region, in one transaction
    (estate owner or god); ``merge`` adds objects instead of replacing."""

    archive: bytes = _w("Archive", b"", required=True)
    merge: bool = _w("Merge", False)


@_rc("ExportOarRequest", ExportOarResponse)
@dataclass
class ExportOarRequest(Request):
    """The region as an OpenSim region archive (OAR) (estate owner or god)."""


@_rc("RegisterTouchCallbackRequest", RegisterTouchCallbackResponse)
@dataclass
class RegisterTouchCallbackRequest(Request):
    """Send a TouchCallback datagram to an endpoint whenever the object is touched."""

    object_id: UUIDLike = _w("ObjectID", ZERO_UUID)
    end_point_id: UUIDLike = _w("EndPointID", ZERO_UUID)


@_rc("UnregisterTouchCallbackRequest")
@dataclass
class UnregisterTouchCallbackRequest(Request):
    """Remove one touch registration."""

    object_id: UUIDLike = _w("ObjectID", ZERO_UUID)
    request_id: UUIDLike = _w("RequestID", ZERO_UUID)


@_rc("RegisterUpdatedCallbackRequest", RegisterUpdatedCallbackResponse)
@dataclass
class RegisterUpdatedCallbackRequest(Request):
    """Send an UpdatedCallback datagram whenever one of the objects moves."""

    object_ids: List[UUIDLike] = _w("ObjectIDs", factory=list)
    end_point_id: UUIDLike = _w("EndPointID", ZERO_UUID)


@_rc("UnregisterUpdatedCallbackRequest")
@dataclass
class UnregisterUpdatedCallbackRequest(Request):
    """Stop position callbacks of one registration for the listed objects."""

    object_ids: List[UUIDLike] = _w("ObjectIDs", factory=list)
    request_id: UUIDLike = _w("RequestID", ZERO_UUID)


@_rc("TouchObjectRequest")
@dataclass
class TouchObjectRequest(Request):
    """Touch an object as an avatar would (fires touch callbacks and script events)."""

    object_id: UUIDLike = _w("ObjectID", ZERO_UUID)
    avatar_id: Optional[UUIDLike] = _w("AvatarID")
    link_num: Optional[int] = _w("LinkNum")
    touch_position: Optional[Sequence[float]] = _w("TouchPosition")


# Scripting domain (scripting.md §3)


@_sc("UploadScriptRequest", UploadScriptResponse)
@dataclass
class UploadScriptRequest(Request):
    """Upload a WebAssembly component as a script in an object."""

    object_id: UUIDLike = _w("ObjectID", ZERO_UUID)
    name: str = _w("Name", "", required=True)
    component: bytes = _w("Component", b"", required=True)
    grants: Optional[List[str]] = _w("Grants")
    start_parameter: Optional[str] = _w("StartParameter")
    start: Optional[bool] = _w("Start")


@_sc("UpdateScriptRequest", UpdateScriptResponse)
@dataclass
class UpdateScriptRequest(Request):
    """Replace a script's component in place: same id, object and storage."""

    script_id: UUIDLike = _w("ScriptID", ZERO_UUID)
    component: bytes = _w("Component", b"", required=True)
    grants: Optional[List[str]] = _w("Grants")
    start_parameter: Optional[str] = _w("StartParameter")


@_sc("ListScriptsRequest", ListScriptsResponse)
@dataclass
class ListScriptsRequest(Request):
    """Status of the scripts of one object (or of the whole region)."""

    object_id: Optional[UUIDLike] = _w("ObjectID")


@_sc("GetScriptStatusRequest", ScriptStatusResponse)
@dataclass
class GetScriptStatusRequest(Request):
    """Status record of one script."""

    script_id: UUIDLike = _w("ScriptID", ZERO_UUID)


@_sc("StartScriptRequest")
@dataclass
class StartScriptRequest(Request):
    """Start a stopped script."""

    script_id: UUIDLike = _w("ScriptID", ZERO_UUID)


@_sc("StopScriptRequest")
@dataclass
class StopScriptRequest(Request):
    """Stop a running script."""

    script_id: UUIDLike = _w("ScriptID", ZERO_UUID)


@_sc("ResetScriptRequest")
@dataclass
class ResetScriptRequest(Request):
    """Restart a script from scratch."""

    script_id: UUIDLike = _w("ScriptID", ZERO_UUID)


@_sc("RemoveScriptRequest")
@dataclass
class RemoveScriptRequest(Request):
    """Remove a script from its object."""

    script_id: UUIDLike = _w("ScriptID", ZERO_UUID)


@_sc("GetScriptLogRequest", ScriptLogResponse)
@dataclass
class GetScriptLogRequest(Request):
    """Log lines of a script after sequence number ``since``."""

    script_id: UUIDLike = _w("ScriptID", ZERO_UUID)
    since: Optional[int] = _w("Since")


def _ext(name: str, response: Type[Response] = Response) -> Callable[[type], type]:
    def wrap(cls: type) -> type:
        cls.TYPE = f"Extensions.Messages.{name}"  # type: ignore[attr-defined]
        cls.DOMAIN = EXTENSIONS  # type: ignore[attr-defined]
        cls.RESPONSE = response  # type: ignore[attr-defined]
        return cls

    return wrap


# Extensions domain (extensions.md §3)


@_ext("InstallExtensionRequest", InstallExtensionResponse)
@dataclass
class InstallExtensionRequest(Request):
    """Install a WebAssembly component of the ``domain-extension`` world as a new message domain."""

    component: bytes = _w("Component", b"", required=True)
    scope: Optional[str] = _w("Scope")
    grants: Optional[List[str]] = _w("Grants")
    config: Optional[str] = _w("Config")
    start: Optional[bool] = _w("Start")


@_ext("ListExtensionsRequest", ListExtensionsResponse)
@dataclass
class ListExtensionsRequest(Request):
    """Status records of the installed extensions."""


@_ext("GetExtensionStatusRequest", ExtensionStatusResponse)
@dataclass
class GetExtensionStatusRequest(Request):
    """Status record of one extension."""

    extension_id: UUIDLike = _w("ExtensionID", ZERO_UUID)


@_ext("StartExtensionRequest")
@dataclass
class StartExtensionRequest(Request):
    """Start a stopped (or faulted) extension."""

    extension_id: UUIDLike = _w("ExtensionID", ZERO_UUID)


@_ext("StopExtensionRequest")
@dataclass
class StopExtensionRequest(Request):
    """Stop an extension: its domain answers no requests until started."""

    extension_id: UUIDLike = _w("ExtensionID", ZERO_UUID)


@_ext("RemoveExtensionRequest")
@dataclass
class RemoveExtensionRequest(Request):
    """Remove an extension, its domain and its storage."""

    extension_id: UUIDLike = _w("ExtensionID", ZERO_UUID)


@_ext("UpdateExtensionRequest", InstallExtensionResponse)
@dataclass
class UpdateExtensionRequest(Request):
    """Replace an extension's component (same domain), keeping its storage."""

    extension_id: UUIDLike = _w("ExtensionID", ZERO_UUID)
    component: bytes = _w("Component", b"", required=True)
    grants: Optional[List[str]] = _w("Grants")
    config: Optional[str] = _w("Config")


@_ext("GetExtensionLogRequest", ScriptLogResponse)
@dataclass
class GetExtensionLogRequest(Request):
    """Log lines of an extension after sequence number ``since``."""

    extension_id: UUIDLike = _w("ExtensionID", ZERO_UUID)
    since: Optional[int] = _w("Since")


#: Every request class, in the order the generated client methods appear.
REQUESTS: Tuple[Type[Request], ...] = (
    InfoRequest,
    MessageFormatRequest,
    CreateCapabilityRequest,
    RenewCapabilityRequest,
    DestroyCapabilityRequest,
    CreateEndPointRequest,
    RenewEndPointRequest,
    CloseEndPointRequest,
    FindObjectsRequest,
    GetObjectDataRequest,
    GetObjectPartsRequest,
    GetObjectInventoryRequest,
    GetObjectPositionRequest,
    SetObjectPositionRequest,
    GetObjectRotationRequest,
    SetObjectRotationRequest,
    BulkDynamicsRequest,
    CreateObjectRequest,
    CreateBulkObjectsRequest,
    DeleteObjectRequest,
    DeleteBulkObjectsRequest,
    DeleteAllObjectsRequest,
    MessageObjectRequest,
    SetPartPositionRequest,
    SetPartRotationRequest,
    SetPartScaleRequest,
    SetPartColorRequest,
    TestAssetRequest,
    GetAssetRequest,
    AddAssetRequest,
    GetAssetFromObjectRequest,
    GetDependentAssetsRequest,
    GetAvatarAppearanceRequest,
    SetAvatarAppearanceRequest,
    ChatRequest,
    GetSunParametersRequest,
    SetSunParametersRequest,
    GetTerrainHeightRequest,
    SetTerrainHeightRequest,
    ImportOarRequest,
    ExportOarRequest,
    RegisterTouchCallbackRequest,
    UnregisterTouchCallbackRequest,
    RegisterUpdatedCallbackRequest,
    UnregisterUpdatedCallbackRequest,
    TouchObjectRequest,
    UploadScriptRequest,
    UpdateScriptRequest,
    ListScriptsRequest,
    GetScriptStatusRequest,
    StartScriptRequest,
    StopScriptRequest,
    ResetScriptRequest,
    RemoveScriptRequest,
    GetScriptLogRequest,
    InstallExtensionRequest,
    ListExtensionsRequest,
    GetExtensionStatusRequest,
    StartExtensionRequest,
    StopExtensionRequest,
    RemoveExtensionRequest,
    UpdateExtensionRequest,
    GetExtensionLogRequest,
)


# ----- any request by its type name (extension domains) ------------------------------

#: Members the client's envelope sets; a generic request may not carry them.
ENVELOPE_MEMBERS = frozenset({"$type", "_domain", "_scene", "_capability", "_asyncrequest"})


def domain_of(type_name: str) -> str:
    """The domain of ``<Domain>.Messages.<Name>`` (the capability's DomainList entry)."""
    domain, sep, rest = type_name.partition(".Messages.")
    if not sep or not domain or not rest or "." in domain or not domain.isidentifier():
        raise ValueError(f"message type must be <Domain>.Messages.<Name>, not {type_name!r}")
    return domain


def _generic_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _generic_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_generic_value(v) for v in value]
    return _to_wire_value(value)


@dataclass
class GenericRequest(Request):
    """Any request given by its ``$type`` and members: how a client calls a message
    domain it has no typed class for, such as an extension's
    (``Leaderboard.Messages.GetTopScoresRequest``). Member values are sent as
    given (UUIDs as text, ``bytes`` as base64 in JSON and binary in BSON); the
    reply is a plain :class:`Response` whose ``raw`` holds every member."""

    type_name: str = ""
    members: Mapping[str, Any] = field(default_factory=dict)
    domain: Optional[str] = None

    def __post_init__(self) -> None:
        setattr(self, "TYPE", self.type_name)
        setattr(self, "DOMAIN", self.domain or domain_of(self.type_name))
        for key in self.members:
            if str(key).lower() in ENVELOPE_MEMBERS:
                raise ValueError(f"member {key!r} is part of the envelope; the client sets it")

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"$type": self.type_name}
        out.update(_generic_value(self.members))
        return out


# ----- callbacks (server -> endpoint datagrams) --------------------------------------


@dataclass
class TouchEvent(Wire):
    """A ``RemoteControl.Messages.TouchCallback`` datagram."""

    object_id: str = _w("ObjectID", ZERO_UUID, _uuid_in)
    request_id: str = _w("RequestID", ZERO_UUID, _uuid_in)
    avatar_id: str = _w("AvatarID", ZERO_UUID, _uuid_in)
    offset_position: Tuple[float, ...] = _w("OffsetPosition", (), _vector_in)
    touch_event: Optional[Dict[str, Any]] = _w("TouchEvent", None, lambda v: v if isinstance(v, dict) else None)


@dataclass
class UpdateEvent(Wire):
    """A ``RemoteControl.Messages.UpdatedCallback`` datagram."""

    object_id: str = _w("ObjectID", ZERO_UUID, _uuid_in)
    request_id: str = _w("RequestID", ZERO_UUID, _uuid_in)
    position: Tuple[float, ...] = _w("Position", (), _vector_in)


TOUCH_CALLBACK = "RemoteControl.Messages.TouchCallback"
UPDATED_CALLBACK = "RemoteControl.Messages.UpdatedCallback"
