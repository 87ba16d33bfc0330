"""Step 4: react to touches.

An endpoint listener receives the host's callback datagrams and hands them to
your function. Here we touch the object ourselves (TouchObjectRequest, as a bot
would); in a live region any avatar's touch arrives the same way.
"""

import os
import sys

from opensim_dispatcher import Client, Credentials, EndpointListener, TouchEvent, box_asset

URL = os.environ.get("OPENSIM_DISPATCHER_URL", "http://127.0.0.1:9000/Dispatcher/")
USER = os.environ.get("OPENSIM_USER", "Ada Lovelace")
PASSWORD = os.environ.get("OPENSIM_PASSWORD", "password")


def on_touch(event: TouchEvent) -> None:
    print("touched", event.object_id, "by", event.avatar_id)


with Client.connect(URL, Credentials.from_name(USER, PASSWORD)) as client:
    box = box_asset("Touch Me")
    client.add_asset(box)
    object_id = client.create_object(box.asset_id, name="Touch Me").object_id

    with EndpointListener(client, on_touch=on_touch) as listener:
        listener.watch_touches(object_id)
        client.touch_object(object_id)  # simulate an avatar's touch
        if listener.next_event(timeout_seconds=5) is None:
            sys.exit("no touch arrived")
