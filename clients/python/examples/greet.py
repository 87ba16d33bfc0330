"""Step 5: call an extension's domain, the tutorial's Greeter (docs/extensions.md).

    OPENSIM_DISPATCHER_URL=http://127.0.0.1:9000/Dispatcher/ \
    OPENSIM_USER="Ada Lovelace" OPENSIM_PASSWORD=password python greet.py Python
"""

import os
import sys

from opensim_dispatcher import DEFAULT_DOMAINS, Client, Credentials

URL = os.environ.get("OPENSIM_DISPATCHER_URL", "http://127.0.0.1:9000/Dispatcher/")
USER = os.environ.get("OPENSIM_USER", "Ada Lovelace")
PASSWORD = os.environ.get("OPENSIM_PASSWORD", "password")
NAME = sys.argv[1] if len(sys.argv) > 1 else ""
GREET = "Greeter.Messages.GreetRequest"

# The capability must name the extension's domain, as it names RemoteControl.
credentials = Credentials.from_name(USER, PASSWORD)
with Client.connect(URL, credentials, domains=[*DEFAULT_DOMAINS, "Greeter"]) as client:
    if not client.offers(GREET):
        sys.exit("the Greeter extension is not installed here (docs/extensions.md)")
    # No typed method for a third party's message: call it by its type name.
    reply = client.call(GREET, {"Name": NAME})
    print(reply["Greeting"], f"(greeting number {reply['Count']} in {client.scene})")
