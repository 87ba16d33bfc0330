// {{name}}: ticks every second and logs the count; a touch stops or restarts
// the timer. Grants: none.
import { log } from 'opensim:dispatcher/log@0.1.0';
import { setTimer } from 'opensim:dispatcher/timers@0.1.0';

const INTERVAL_MS = 1000;
let ticks = 0;
let running = false;

function set(intervalMs) {
  try {
    running = setTimer(intervalMs) > 0;
  } catch (err) {
    log('error', `set-timer: ${String(err && err.payload ? err.payload.tag : err)}`);
  }
}

export const handlers = {
  onStart(startParameter) {
    log('info', '{{name}} started: ticking every second');
    set(INTERVAL_MS);
  },
  onTimer() {
    ticks += 1;
    log('info', `tick ${ticks}`);
  },
  onTouch(event) {
    const was = running;
    set(was ? 0 : INTERVAL_MS);
    log('info', was ? 'timer stopped' : 'timer started');
  },
  onChat(event) {},
  onMessage(event) {},
  onUpdated(event) {},
};
