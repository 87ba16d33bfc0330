"""Step 2: create objects from an object asset."""

import os

from opensim_dispatcher import Client, Credentials, box_asset

URL = os.environ.get("OPENSIM_DISPATCHER_URL", "http://127.0.0.1:9000/Dispatcher/")
USER = os.environ.get("OPENSIM_USER", "Ada Lovelace")
PASSWORD = os.environ.get("OPENSIM_PASSWORD", "password")

with Client.connect(URL, Credentials.from_name(USER, PASSWORD)) as client:
    # Objects are rezzed from object assets; upload a generated box once.
    box = box_asset("Tutorial Box")
    client.add_asset(box)

    for i in range(5):
        reply = client.create_object(box.asset_id, position=(120.0 + 2 * i, 128.0, 25.0), name=f"Tutorial Box {i}")
        print("created", reply.object_id)

    found = client.find_objects(pattern="^Tutorial Box").objects
    print("the region has", len(found), "tutorial boxes")
