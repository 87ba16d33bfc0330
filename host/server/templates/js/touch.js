// {{name}}: logs every touch and says hello on chat channel 0. Grants: chat.
import { say } from 'opensim:dispatcher/chat@0.1.0';
import { log } from 'opensim:dispatcher/log@0.1.0';

function describe(err) {
  const e = err && err.payload !== undefined ? err.payload : err;
  return e && typeof e === 'object' && 'tag' in e ? (e.val === undefined ? e.tag : `${e.tag}: ${e.val}`) : String(e);
}

export const handlers = {
  onStart(startParameter) {
    log('info', '{{name}} started: touch me');
  },
  onTouch(event) {
    log('info', `touched by ${event.avatarId}`);
    try {
      say(0, 'Hello, toucher!');
    } catch (err) {
      log('warn', `cannot say hello: ${describe(err)}`);
    }
  },
  onChat(event) {},
  onTimer() {},
  onMessage(event) {},
  onUpdated(event) {},
};
