"""{{name}}: ticks every second and logs the count; a touch stops or restarts
the timer. Grants: none."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.handlers import ChatEvent, MessageEvent, TouchEvent, UpdatedEvent
from wit_world.imports import timers
from wit_world.imports.log import Level, log

INTERVAL_MS = 1000
ticks = 0
running = False


def set_timer(interval_ms: int) -> None:
    global running
    try:
        running = timers.set_timer(interval_ms) > 0
    except Err as e:
        log(Level.ERROR, f"set-timer: {e.value}")


class Handlers(exports.Handlers):
    def on_start(self, start_parameter: str) -> None:
        log(Level.INFO, "{{name}} started: ticking every second")
        set_timer(INTERVAL_MS)

    def on_timer(self) -> None:
        global ticks
        ticks += 1
        log(Level.INFO, f"tick {ticks}")

    def on_touch(self, event: TouchEvent) -> None:
        was_running = running
        set_timer(0 if was_running else INTERVAL_MS)
        log(Level.INFO, "timer stopped" if was_running else "timer started")

    def on_chat(self, event: ChatEvent) -> None:
        pass

    def on_message(self, event: MessageEvent) -> None:
        pass

    def on_updated(self, event: UpdatedEvent) -> None:
        pass
