"""{{name}}: logs every touch and says hello on chat channel 0. Grants: chat."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.handlers import ChatEvent, MessageEvent, TouchEvent, UpdatedEvent
from wit_world.imports import chat
from wit_world.imports.log import Level, log


class Handlers(exports.Handlers):
    def on_start(self, start_parameter: str) -> None:
        log(Level.INFO, "{{name}} started: touch me")

    def on_touch(self, event: TouchEvent) -> None:
        log(Level.INFO, f"touched by {event.avatar_id}")
        try:
            chat.say(0, "Hello, toucher!")
        except Err as e:
            log(Level.WARN, f"cannot say hello: {e.value}")

    def on_chat(self, event: ChatEvent) -> None:
        pass

    def on_timer(self) -> None:
        pass

    def on_message(self, event: MessageEvent) -> None:
        pass

    def on_updated(self, event: UpdatedEvent) -> None:
        pass
