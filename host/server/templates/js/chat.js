// {{name}}: listens on the channel given as start parameter (default 7) and
// answers every line heard there. Grants: chat.
import { listen, say } from 'opensim:dispatcher/chat@0.1.0';
import { log } from 'opensim:dispatcher/log@0.1.0';

let channel = 7;

function describe(err) {
  const e = err && err.payload !== undefined ? err.payload : err;
  return e && typeof e === 'object' && 'tag' in e ? (e.val === undefined ? e.tag : `${e.tag}: ${e.val}`) : String(e);
}

export const handlers = {
  onStart(startParameter) {
    const n = parseInt(startParameter.trim(), 10);
    channel = Number.isNaN(n) ? 7 : n;
    try {
      listen(channel);
      log('info', `{{name}} listening on channel ${channel}`);
    } catch (err) {
      log('error', `cannot listen on ${channel}: ${describe(err)}`);
    }
  },
  onChat(event) {
    if (event.channel !== channel || event.text.startsWith('heard: ')) return;
    log('info', `${event.name} said ${JSON.stringify(event.text)}`);
    try {
      say(event.channel, `heard: ${event.text}`);
    } catch (err) {
      log('warn', `cannot answer: ${describe(err)}`);
    }
  },
  onTouch(event) {},
  onTimer() {},
  onMessage(event) {},
  onUpdated(event) {},
};
