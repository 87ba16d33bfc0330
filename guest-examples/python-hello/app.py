"""python-hello: the chat-echo example in Python.

Listens on one channel (the start parameter, default 7) and answers every line
heard there with "echo: <text>" on the same channel; behaves exactly like the
Rust `chat-echo`, so one integration test can check both languages.

Grants: chat.

Conventions of the bindings (componentize-py): the exported interface is a
class named after it (`Handlers`), imports live in `wit_world.imports.<name>`,
a `result` that is an error is raised as `componentize_py_types.Err` whose
`value` is one of the `types.Error_*` classes, enums are Python enums.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.handlers import ChatEvent, MessageEvent, TouchEvent, UpdatedEvent
from wit_world.imports import chat
from wit_world.imports import self as script
from wit_world.imports.log import Level, log

DEFAULT_CHANNEL = 7
PREFIX = "echo: "

# The channel chosen at start; lines from any other channel are ignored.
channel = DEFAULT_CHANNEL


def parse_channel(text: str) -> int:
    # A start parameter is typed by a person: anything unreadable means
    # "the default" rather than a failed start.
    words = text.split()
    try:
        return int(words[0]) if words else DEFAULT_CHANNEL
    except ValueError:
        return DEFAULT_CHANNEL


class Handlers(exports.Handlers):
    def on_start(self, start_parameter: str) -> None:
        global channel
        channel = parse_channel(start_parameter)
        try:
            chat.listen(channel)
            log(Level.INFO, f"python-hello listening on channel {channel} in {script.region_name()}")
        except Err as e:
            log(Level.ERROR, f"cannot listen on {channel}: {e.value}")

    def on_chat(self, event: ChatEvent) -> None:
        if event.channel != channel:
            return
        # Never echo an echo (or ourselves): two echo scripts on one channel
        # would otherwise answer each other for ever.
        if event.speaker_id == script.object_id() or event.text.startswith(PREFIX):
            return
        try:
            chat.say(event.channel, PREFIX + event.text)
        except Err as e:
            log(Level.WARN, f"cannot answer {event.name}: {e.value}")

    def on_touch(self, event: TouchEvent) -> None:
        pass

    def on_timer(self) -> None:
        pass

    def on_message(self, event: MessageEvent) -> None:
        pass

    def on_updated(self, event: UpdatedEvent) -> None:
        pass
