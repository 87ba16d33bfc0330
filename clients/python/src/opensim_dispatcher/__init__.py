"""Python client for the OpenSim Dispatcher protocol (Dispatcher, RemoteControl, Scripting, Extensions).

>>> from opensim_dispatcher import Client, Credentials
>>> with Client.connect("http://127.0.0.1:9000/Dispatcher/",
...                     Credentials.from_name("Ada Lovelace", "password")) as client:
...     print(client.find_objects(pattern="^Tile").objects)
"""

from .aio import AsyncClient
from .auth import DEFAULT_DOMAINS, Credentials, hash_password
from .client import Client
from .events import AsyncEventStream, EventStream
from .errors import DispatcherError, ProtocolError, RequestFailed, TransportError, Unauthorized, UnknownMessageType
from .listener import AsyncEndpointListener, EndpointListener
from .messages import (
    ZERO_UUID,
    AssetData,
    ObjectDynamics,
    ObjectSpecification,
    Response,
    TouchEvent,
    UpdateEvent,
)
from .objects import box_asset, box_object_xml

__version__ = "0.1.0"

__all__ = [
    "AssetData",
    "AsyncClient",
    "AsyncEndpointListener",
    "AsyncEventStream",
    "Client",
    "Credentials",
    "DEFAULT_DOMAINS",
    "DispatcherError",
    "EndpointListener",
    "EventStream",
    "ObjectDynamics",
    "ObjectSpecification",
    "ProtocolError",
    "RequestFailed",
    "Response",
    "TouchEvent",
    "TransportError",
    "Unauthorized",
    "UnknownMessageType",
    "UpdateEvent",
    "ZERO_UUID",
    "box_asset",
    "box_object_xml",
    "hash_password",
]
