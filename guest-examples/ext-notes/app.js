// ext-notes: a message domain written in JavaScript. It serves `Notes`:
//
//   Notes.Messages.AddNoteRequest   { "Text": "..." }
//     -> Notes.Messages.AddNoteResponse  { "NoteID": 3, "Count": 3 }
//   Notes.Messages.ListNotesRequest { "Limit": 0 }   (0: every note)
//     -> Notes.Messages.ListNotesResponse { "Notes": [ { "NoteID", "Text",
//        "AuthorID", "Author" } ], "Count": 3 }
//
// Notes are kept per region (the request's `_Scene`) in the extension's
// storage, so they outlive restarts, updates and host restarts.
//
// Grants: `storage`.
//
// Conventions of the bindings (componentize-js): interfaces are ES modules
// named `opensim:dispatcher/<interface>@0.1.0`, names are camelCase, an
// import's `result` error is thrown. An export returning `result` returns
// its ok value; to answer `err(text)` it throws a value whose own `payload`
// is the text (a thrown `Error` would trap instead).

import { get as storageGet, set as storageSet } from 'opensim:dispatcher/storage@0.1.0';
import { log } from 'opensim:dispatcher/log@0.1.0';

const ADD = 'Notes.Messages.AddNoteRequest';
const ADDED = 'Notes.Messages.AddNoteResponse';
const LIST = 'Notes.Messages.ListNotesRequest';
const LISTED = 'Notes.Messages.ListNotesResponse';
// Bounds that keep one region's record small (storage has a quota).
const MAX_TEXT_CHARS = 500;
const MAX_NOTES = 100;

// The err(text) of `handle`.
class Refusal {
  constructor(text) {
    this.payload = text;
  }
}

// UTF-8 without TextEncoder (the component is built with every engine
// feature off): encodeURIComponent yields the bytes as %XX escapes.
function toBytes(text) {
  const escaped = encodeURIComponent(text);
  const bytes = [];
  for (let i = 0; i < escaped.length; i++) {
    if (escaped[i] === '%') {
      bytes.push(parseInt(escaped.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(escaped.charCodeAt(i));
    }
  }
  return new Uint8Array(bytes);
}

function fromBytes(bytes) {
  let escaped = '';
  for (const b of bytes) escaped += '%' + b.toString(16).padStart(2, '0');
  return decodeURIComponent(escaped);
}

// The import's error variant as text.
function describeError(err) {
  const e = err && err.payload !== undefined ? err.payload : err;
  if (e && typeof e === 'object' && 'tag' in e) return e.val === undefined ? e.tag : `${e.tag}: ${e.val}`;
  return String(e);
}

function keyOf(scene) {
  if (!scene) throw new Refusal('notes are kept per region: the request needs a _Scene');
  return `notes/${scene}`;
}

// One region's record: { next: <next id>, notes: [...] }.
function load(key) {
  let stored;
  try {
    stored = storageGet(key);
  } catch (err) {
    throw new Refusal(`cannot read the notes: ${describeError(err)}`);
  }
  if (stored === undefined || stored === null) return { next: 1, notes: [] };
  try {
    const record = JSON.parse(fromBytes(stored));
    if (record && Array.isArray(record.notes) && Number.isInteger(record.next)) return record;
  } catch (_) {
    // fall through: a damaged record is reported, never silently replaced
  }
  throw new Refusal('the stored notes of this region are damaged');
}

function save(key, record) {
  try {
    storageSet(key, toBytes(JSON.stringify(record)));
  } catch (err) {
    throw new Refusal(`cannot store the note: ${describeError(err)}`);
  }
}

function parseBody(text) {
  let body;
  try {
    body = JSON.parse(text);
  } catch (_) {
    throw new Refusal('body is not JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Refusal('body is not a JSON object');
  return body;
}

function addNote(request, body) {
  const text = body.Text;
  if (typeof text !== 'string' || text.trim() === '') throw new Refusal('Text must be a non-empty string');
  if ([...text].length > MAX_TEXT_CHARS) throw new Refusal(`Text is longer than ${MAX_TEXT_CHARS} characters`);
  const key = keyOf(request.scene);
  const record = load(key);
  if (record.notes.length >= MAX_NOTES) throw new Refusal(`this region already has ${MAX_NOTES} notes`);
  const caller = request.caller;
  const note = {
    NoteID: record.next,
    Text: text,
    AuthorID: caller.accountId,
    Author: `${caller.firstName} ${caller.lastName}`,
  };
  record.notes.push(note);
  record.next += 1;
  save(key, record);
  return { NoteID: note.NoteID, Count: record.notes.length };
}

function listNotes(request, body) {
  const limit = body.Limit === undefined ? 0 : body.Limit;
  if (!Number.isInteger(limit) || limit < 0) throw new Refusal('Limit must be a non-negative integer');
  const record = load(keyOf(request.scene));
  const notes = limit === 0 ? record.notes : record.notes.slice(-limit);
  return { Notes: notes, Count: record.notes.length };
}

export const domain = {
  describe() {
    return {
      name: 'Notes',
      version: '1.0.0',
      messageTypes: [
        {
          requestType: ADD,
          replyType: ADDED,
          requestDefault: JSON.stringify({ Text: '' }),
          replyDefault: JSON.stringify({ NoteID: 0, Count: 0 }),
        },
        {
          requestType: LIST,
          replyType: LISTED,
          requestDefault: JSON.stringify({ Limit: 0 }),
          replyDefault: JSON.stringify({ Notes: [], Count: 0 }),
        },
      ],
    };
  },

  handle(request) {
    const body = parseBody(request.body);
    switch (request.messageType) {
      case ADD:
        return { messageType: ADDED, body: JSON.stringify(addNote(request, body)) };
      case LIST:
        return { messageType: LISTED, body: JSON.stringify(listNotes(request, body)) };
      default:
        throw new Refusal(`Notes does not serve ${request.messageType}`);
    }
  },

  onStart(config) {
    log('info', 'Notes ready');
  },

  onTimer() {},
};
