"""{{name}}: counts touches and messages in the script's persistent storage, so
the count survives restarts, host restarts and updates. Grants: storage."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.handlers import ChatEvent, MessageEvent, TouchEvent, UpdatedEvent
from wit_world.imports import storage
from wit_world.imports.log import Level, log

KEY = "count"


def read() -> int:
    value = storage.get(KEY)
    text = bytes(value).decode("utf-8", "replace").strip() if value is not None else ""
    return int(text) if text.isdigit() else 0


def bump(cause: str) -> None:
    try:
        n = read() + 1
        storage.set(KEY, str(n).encode())
        log(Level.INFO, f"count = {n} ({cause})")
    except Err as e:
        log(Level.ERROR, f"cannot count: {e.value}")


class Handlers(exports.Handlers):
    def on_start(self, start_parameter: str) -> None:
        try:
            log(Level.INFO, f"{{name}} started, count = {read()}")
        except Err as e:
            log(Level.ERROR, f"cannot read the count: {e.value}")

    def on_touch(self, event: TouchEvent) -> None:
        bump(f"touch by {event.avatar_id}")

    def on_message(self, event: MessageEvent) -> None:
        bump(f"message from {event.sender_id}")

    def on_chat(self, event: ChatEvent) -> None:
        pass

    def on_timer(self) -> None:
        pass

    def on_updated(self, event: UpdatedEvent) -> None:
        pass
