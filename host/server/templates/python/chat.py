"""{{name}}: listens on the channel given as start parameter (default 7) and
answers every line heard there. Grants: chat."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.handlers import ChatEvent, MessageEvent, TouchEvent, UpdatedEvent
from wit_world.imports import chat
from wit_world.imports.log import Level, log

channel = 7


class Handlers(exports.Handlers):
    def on_start(self, start_parameter: str) -> None:
        global channel
        words = start_parameter.split()
        channel = int(words[0]) if words and words[0].lstrip("-").isdigit() else 7
        try:
            chat.listen(channel)
            log(Level.INFO, f"{{name}} listening on channel {channel}")
        except Err as e:
            log(Level.ERROR, f"cannot listen on {channel}: {e.value}")

    def on_chat(self, event: ChatEvent) -> None:
        if event.channel != channel or event.text.startswith("heard: "):
            return
        log(Level.INFO, f"{event.name} said {event.text!r}")
        try:
            chat.say(event.channel, "heard: " + event.text)
        except Err as e:
            log(Level.WARN, f"cannot answer: {e.value}")

    def on_touch(self, event: TouchEvent) -> None:
        pass

    def on_timer(self) -> None:
        pass

    def on_message(self, event: MessageEvent) -> None:
        pass

    def on_updated(self, event: UpdatedEvent) -> None:
        pass
