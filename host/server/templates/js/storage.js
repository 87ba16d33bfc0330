// {{name}}: counts touches and messages in the script's persistent storage, so
// the count survives restarts, host restarts and updates. Grants: storage.
import { log } from 'opensim:dispatcher/log@0.1.0';
import { get, set } from 'opensim:dispatcher/storage@0.1.0';

const KEY = 'count';

function describe(err) {
  const e = err && err.payload !== undefined ? err.payload : err;
  return e && typeof e === 'object' && 'tag' in e ? (e.val === undefined ? e.tag : `${e.tag}: ${e.val}`) : String(e);
}

function read() {
  const value = get(KEY);
  const n = value === undefined || value === null ? 0 : parseInt(new TextDecoder().decode(value), 10);
  return Number.isNaN(n) ? 0 : n;
}

function bump(cause) {
  try {
    const n = read() + 1;
    set(KEY, new TextEncoder().encode(String(n)));
    log('info', `count = ${n} (${cause})`);
  } catch (err) {
    log('error', `cannot count: ${describe(err)}`);
  }
}

export const handlers = {
  onStart(startParameter) {
    try {
      log('info', `{{name}} started, count = ${read()}`);
    } catch (err) {
      log('error', `cannot read the count: ${describe(err)}`);
    }
  },
  onTouch(event) {
    bump(`touch by ${event.avatarId}`);
  },
  onMessage(event) {
    bump(`message from ${event.senderId}`);
  },
  onChat(event) {},
  onTimer() {},
  onUpdated(event) {},
};
