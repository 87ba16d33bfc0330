// js-hello: the touch-lift example in JavaScript. Every touch raises the
// script's object by one metre; behaves exactly like the Rust `touch-lift`, so
// one integration test can check both languages.
//
// Grants: objects:read, objects:write.
//
// Conventions of the bindings (componentize-js): interfaces are ES modules
// named `opensim:dispatcher/<interface>@0.1.0`, names are camelCase, a
// `result` that is an error is thrown (the WIT `error` variant is the thrown
// value's `payload`, `{ tag, val }`), enums are their case names as strings.

import { getPosition, setPosition } from 'opensim:dispatcher/objects@0.1.0';
import { log } from 'opensim:dispatcher/log@0.1.0';
import { objectId, regionName } from 'opensim:dispatcher/self@0.1.0';

const LIFT_M = 1.0;

// The WIT error variant, when that is what was thrown; anything else as text.
function describe(err) {
  const e = err && err.payload !== undefined ? err.payload : err;
  if (e && typeof e === 'object' && 'tag' in e) {
    return e.val === undefined ? e.tag : `${e.tag}: ${e.val}`;
  }
  return String(e);
}

export const handlers = {
  onStart(startParameter) {
    log('info', `js-hello ready in ${regionName()}: touch me to lift me`);
  },

  onTouch(event) {
    // Our own object rather than event.objectId: the script's rights are
    // scoped to its own object, and that is the one the example moves.
    const me = objectId();
    try {
      const pos = getPosition(me);
      const now = setPosition(me, { x: pos.x, y: pos.y, z: pos.z + LIFT_M });
      log('info', `touched by ${event.avatarId}: now at <${now.x.toFixed(2)}, ${now.y.toFixed(2)}, ${now.z.toFixed(2)}>`);
    } catch (err) {
      // Reported in the script log, not rethrown: a missing grant should tell
      // the owner what to grant, not fault the script.
      log('error', `cannot lift: ${describe(err)}`);
    }
  },

  onChat(event) {},
  onTimer() {},
  onMessage(event) {},
  onUpdated(event) {},
};
