"""Step 3: move objects, one at a time over HTTP and many at once over UDP."""

import os
import time

from opensim_dispatcher import Client, Credentials, ObjectDynamics, box_asset
from opensim_dispatcher.messages import BulkDynamicsRequest

URL = os.environ.get("OPENSIM_DISPATCHER_URL", "http://127.0.0.1:9000/Dispatcher/")
USER = os.environ.get("OPENSIM_USER", "Ada Lovelace")
PASSWORD = os.environ.get("OPENSIM_PASSWORD", "password")

with Client.connect(URL, Credentials.from_name(USER, PASSWORD)) as client:
    box = box_asset("Mover")
    client.add_asset(box)
    ids = [client.create_object(box.asset_id, position=(100.0, 100.0 + i, 25.0)).object_id for i in range(3)]

    # One object, with a reply that confirms where it ended up.
    moved = client.set_object_position(ids[0], (110.0, 100.0, 30.0))
    print("moved to", moved.position)

    # Many objects, fire and forget: one UDP datagram per frame, no reply.
    for frame in range(10):
        updates = [ObjectDynamics(object_id=i, position=(100.0 + frame, 110.0 + n, 25.0)) for n, i in enumerate(ids)]
        client.send_packet(BulkDynamicsRequest(updates=updates))
        time.sleep(0.02)

    # UDP requests run asynchronously; give the last frame a moment to land.
    deadline = time.monotonic() + 5
    while client.get_object_position(ids[2]).position[0] != 109.0 and time.monotonic() < deadline:
        time.sleep(0.05)
    print("last frame at", client.get_object_position(ids[2]).position)
