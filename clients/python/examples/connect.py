"""Step 1: connect and authenticate.

    OPENSIM_DISPATCHER_URL=http://127.0.0.1:9000/Dispatcher/ \
    OPENSIM_USER="Ada Lovelace" OPENSIM_PASSWORD=password python connect.py
"""

import os

from opensim_dispatcher import Client, Credentials

URL = os.environ.get("OPENSIM_DISPATCHER_URL", "http://127.0.0.1:9000/Dispatcher/")
USER = os.environ.get("OPENSIM_USER", "Ada Lovelace")
PASSWORD = os.environ.get("OPENSIM_PASSWORD", "password")

# Who is there? InfoRequest needs no credentials.
with Client(URL) as anonymous:
    info = anonymous.info()
print("regions:", ", ".join(info.scene_list))

# A capability for the first region; renewed in the background, destroyed on exit.
with Client.connect(URL, Credentials.from_name(USER, PASSWORD)) as client:
    print("connected to", client.scene, "for", client.lifespan_seconds, "s at a time")
    print("the host offers", len(client.info().message_list), "messages")
