// The dashboard: a page that talks to the host only through the public
// protocol — JSON requests to the Dispatcher path and the event stream
// (WebSocket). No framework, no build step. See docs/live.md.
import { md5Hex } from "./md5.js";

const REGION_METRES = 256;
const TOPICS = ["objects", "touch", "chat", "scripts", "script-logs"];
// Script counters (CPU, events) change without a state change: the list is
// refreshed on every state change from the stream, and this often for them.
const COUNTERS_REFRESH_MS = 10000;
const DEFAULT_CONFIG = { dispatcherPath: "/Dispatcher/", eventsPath: "/Dispatcher/events", metricsPath: "/metrics" };

const $ = (id) => document.getElementById(id);

const state = {
  config: DEFAULT_CONFIG,
  capability: null,
  lifeSpan: 300,
  who: "",
  scene: null,
  objects: new Map(), // id -> { id, name, position: [x, y, z], flashUntil }
  selected: null,
  scripts: [],
  logScript: null,
  logSeen: new Set(),
  logLast: 0, // the highest sequence number shown
  socket: null,
  reconnectDelay: 1000,
  reconnectTimer: null,
  renewTimer: null,
  pollTimer: null,
  countersTimer: null,
  scriptsRefresh: null,
  dropped: 0,
  lastRequests: null,
  terrain: null, // an offscreen canvas with the terrain's shading
  dirty: true,
  listDirty: true,
};

// ---- the protocol -------------------------------------------------------

class ProtocolError extends Error {}

async function rpc(type, members = {}, { scene = true } = {}) {
  // `_Domain` names the message's domain, the first part of its type.
  const body = { $type: type, _Domain: type.slice(0, type.indexOf(".")), ...members };
  if (state.capability) body._Capability = state.capability;
  if (scene && state.scene) body._Scene = state.scene;
  let response;
  try {
    response = await fetch(state.config.dispatcherPath, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch {
    showConnection(false, "The host is unreachable; retrying.");
    throw new ProtocolError("the host is unreachable");
  }
  let reply;
  try {
    reply = await response.json();
  } catch {
    throw new ProtocolError(`HTTP ${response.status} without a protocol reply`);
  }
  if (!state.socket || state.socket.readyState === WebSocket.OPEN) showConnection(true);
  if (reply._Success === 0 || reply._Success === false) {
    throw new ProtocolError(reply._Message || `${type} failed`);
  }
  return reply;
}

function showConnection(ok, text = "") {
  const el = $("connection");
  el.textContent = ok ? text : text || "The host is unreachable.";
  el.classList.toggle("bad", !ok);
}

// The host's answer to a capability that expired or was destroyed.
function isCapabilityFailure(message) {
  return /no such capability/i.test(message);
}

// ---- signing in and out -------------------------------------------------

async function signIn(first, last, password) {
  const reply = await rpc(
    "Dispatcher.Messages.CreateCapabilityRequest",
    {
      FirstName: first,
      LastName: last,
      HashedPasswd: md5Hex(password),
      DomainList: ["Dispatcher", "RemoteControl", "Scripting"],
      LifeSpan: 300,
    },
    { scene: false },
  );
  state.capability = reply.Capability;
  state.lifeSpan = Number(reply.LifeSpan) || 300;
  state.who = `${first} ${last}`;
  sessionStorage.setItem("dispatcher.session", JSON.stringify({ capability: state.capability, lifeSpan: state.lifeSpan, who: state.who }));
  await enterHost();
}

async function enterHost() {
  const info = await rpc("Dispatcher.Messages.InfoRequest", {}, { scene: false });
  const scenes = info.SceneList || [];
  const select = $("region");
  select.replaceChildren(...scenes.map((name) => new Option(name, name)));
  $("who").textContent = state.who;
  $("login-view").hidden = true;
  $("session").hidden = false;
  $("region-view").hidden = false;
  scheduleRenewal();
  const remembered = sessionStorage.getItem("dispatcher.scene");
  await selectRegion(scenes.includes(remembered) ? remembered : scenes[0]);
}

function scheduleRenewal() {
  clearInterval(state.renewTimer);
  const every = Math.max(5, state.lifeSpan / 2) * 1000;
  state.renewTimer = setInterval(async () => {
    try {
      await rpc("Dispatcher.Messages.RenewCapabilityRequest", { LifeSpan: state.lifeSpan }, { scene: false });
    } catch (e) {
      if (isCapabilityFailure(e.message)) signOut(`Your session ended: ${e.message}`);
    }
  }, every);
}

function signOut(message = "") {
  const capability = state.capability;
  state.capability = null;
  sessionStorage.removeItem("dispatcher.session");
  clearInterval(state.renewTimer);
  clearInterval(state.pollTimer);
  clearInterval(state.countersTimer);
  clearTimeout(state.reconnectTimer);
  if (state.socket) state.socket.close();
  state.socket = null;
  if (capability && !message) {
    fetch(state.config.dispatcherPath, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ $type: "Dispatcher.Messages.DestroyCapabilityRequest", _Domain: "Dispatcher", _Capability: capability }),
    }).catch(() => {});
  }
  $("session").hidden = true;
  $("region-view").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = message;
  showConnection(true);
  $("first-name").focus();
}

// ---- a region -----------------------------------------------------------

async function selectRegion(scene) {
  if (!scene) {
    showConnection(false, "This host has no region.");
    return;
  }
  state.scene = scene;
  sessionStorage.setItem("dispatcher.scene", scene);
  $("region").value = scene;
  state.objects.clear();
  state.selected = null;
  state.logScript = null;
  state.logSeen.clear();
  state.logLast = 0;
  $("log").replaceChildren();
  $("chat").replaceChildren();
  $("details").replaceChildren(paragraph("Select an object on the map or in the list."));
  state.dirty = state.listDirty = true;
  connectEvents();
  clearInterval(state.pollTimer);
  state.pollTimer = setInterval(refreshFigures, 2000);
  clearInterval(state.countersTimer);
  state.countersTimer = setInterval(refreshScripts, COUNTERS_REFRESH_MS);
  await Promise.allSettled([refreshScripts(), loadTerrain()]);
}

// A burst of state changes (a region's scripts restarting) costs one
// ListScripts.
function scriptsChanged() {
  if (state.scriptsRefresh) return;
  state.scriptsRefresh = setTimeout(() => {
    state.scriptsRefresh = null;
    refreshScripts();
  }, 100);
}

// ---- the event stream ---------------------------------------------------

function connectEvents() {
  clearTimeout(state.reconnectTimer);
  if (state.socket) {
    state.socket.onclose = null;
    state.socket.close();
  }
  const url = new URL(state.config.eventsPath, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url);
  state.socket = socket;
  socket.onopen = () => {
    socket.send(
      JSON.stringify({
        $type: "Dispatcher.Messages.SubscribeRequest",
        _Domain: "Dispatcher",
        _Capability: state.capability,
        _Scene: state.scene,
        Topics: TOPICS,
      }),
    );
  };
  socket.onmessage = (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    handleFrame(frame);
  };
  socket.onclose = () => {
    if (state.socket !== socket || !state.capability) return;
    const seconds = Math.round(state.reconnectDelay / 1000);
    showConnection(false, `The event stream is down; reconnecting in ${seconds} s.`);
    state.reconnectTimer = setTimeout(connectEvents, state.reconnectDelay);
    state.reconnectDelay = Math.min(state.reconnectDelay * 2, 15000);
  };
}

function shortType(frame) {
  const type = String(frame.$type || "");
  return type.slice(type.lastIndexOf(".") + 1);
}

function handleFrame(frame) {
  if (Number(frame.Dropped) > 0) {
    state.dropped += Number(frame.Dropped);
    $("fig-dropped").textContent = state.dropped;
  }
  if (frame._Success === 0 || frame._Success === false) {
    const message = frame._Message || "the event stream was refused";
    if (isCapabilityFailure(message)) signOut(`Your session ended: ${message}`);
    else showConnection(false, message);
    return;
  }
  switch (shortType(frame)) {
    case "SubscribeResponse":
      state.reconnectDelay = 1000;
      showConnection(true, "Live");
      // What changed while the stream was down.
      scriptsChanged();
      refreshLog();
      break;
    case "ObjectSnapshot":
    case "ObjectsSnapshot":
      // After an archive import the host sends the region again.
      if (frame.Reload === true) {
        state.objects.clear();
        state.listDirty = true;
      }
      for (const record of frame.Objects || []) upsertObject(record);
      break;
    case "ObjectUpdated":
      objectUpdated(frame);
      break;
    case "TouchCallback":
      touched(frame.ObjectID);
      break;
    case "ChatMessage":
    case "ChatEvent":
    case "Chat":
      appendChat(frame);
      break;
    case "ScriptStatusEvent":
      scriptsChanged();
      break;
    case "ScriptLogEvent":
      appendLog(frame.ScriptID, [frame]);
      break;
    default:
      break;
  }
}

function upsertObject(record) {
  const id = record.ObjectID;
  if (!id) return;
  const known = state.objects.get(id) || { id, name: "", position: [0, 0, 0], flashUntil: 0 };
  if (record.Name !== undefined) known.name = record.Name;
  if (Array.isArray(record.Position)) known.position = record.Position;
  if (Array.isArray(record.Rotation)) known.rotation = record.Rotation;
  if (Array.isArray(record.Velocity)) known.velocity = record.Velocity;
  if (!state.objects.has(id)) state.listDirty = true;
  state.objects.set(id, known);
  state.dirty = true;
}

function objectUpdated(frame) {
  const change = String(frame.Change || frame.Kind || "").toLowerCase();
  if (change === "deleted" || frame.Deleted === true) {
    state.objects.delete(frame.ObjectID);
    if (state.selected === frame.ObjectID) state.selected = null;
    state.dirty = state.listDirty = true;
    return;
  }
  upsertObject(frame);
  if (state.selected === frame.ObjectID && Array.isArray(frame.Position)) {
    const cell = document.querySelector("#details [data-field='Position']");
    if (cell) cell.textContent = vector(frame.Position);
  }
}

function touched(id) {
  const object = state.objects.get(id);
  if (object) {
    object.flashUntil = performance.now() + 1500;
    state.dirty = true;
  }
}

// ---- the map ------------------------------------------------------------

function drawMap() {
  if (state.dirty) {
    state.dirty = false;
    const canvas = $("map");
    const g = canvas.getContext("2d");
    const scale = canvas.width / REGION_METRES;
    if (state.terrain) g.drawImage(state.terrain, 0, 0, canvas.width, canvas.height);
    else {
      g.fillStyle = "#dfe7d8";
      g.fillRect(0, 0, canvas.width, canvas.height);
    }
    const now = performance.now();
    g.fillStyle = "#1d3f8f";
    let flashing = false;
    for (const object of state.objects.values()) {
      const [x, y] = object.position;
      if (object.flashUntil > now) {
        flashing = true;
        continue;
      }
      g.fillRect(x * scale - 2, (REGION_METRES - y) * scale - 2, 4, 4);
    }
    g.fillStyle = "#e8590c";
    for (const object of state.objects.values()) {
      if (object.flashUntil <= now) continue;
      const [x, y] = object.position;
      g.fillRect(x * scale - 4, (REGION_METRES - y) * scale - 4, 8, 8);
    }
    const selected = state.objects.get(state.selected);
    if (selected) {
      const [x, y] = selected.position;
      g.strokeStyle = "#b3261e";
      g.lineWidth = 2;
      g.beginPath();
      g.arc(x * scale, (REGION_METRES - y) * scale, 8, 0, 2 * Math.PI);
      g.stroke();
    }
    if (flashing) state.dirty = true;
  }
  if (state.listDirty) {
    state.listDirty = false;
    renderObjectList();
    $("fig-objects").textContent = state.objects.size;
  }
  requestAnimationFrame(drawMap);
}

function nearestObject(worldX, worldY, radius) {
  let best = null;
  let bestDistance = radius * radius;
  for (const object of state.objects.values()) {
    const dx = object.position[0] - worldX;
    const dy = object.position[1] - worldY;
    const distance = dx * dx + dy * dy;
    if (distance <= bestDistance) {
      best = object;
      bestDistance = distance;
    }
  }
  return best;
}

async function loadTerrain() {
  // A coarse shading from 17 × 17 samples of the terrain height.
  const steps = 16;
  const samples = [];
  for (let i = 0; i <= steps; i++) {
    for (let j = 0; j <= steps; j++) samples.push([(i * REGION_METRES) / steps, (j * REGION_METRES) / steps]);
  }
  const heights = new Map();
  const scene = state.scene;
  for (let start = 0; start < samples.length; start += 32) {
    const batch = samples.slice(start, start + 32);
    const replies = await Promise.allSettled(
      batch.map(([x, y]) => rpc("RemoteControl.Messages.GetTerrainHeightRequest", { X: Math.min(x, REGION_METRES - 1), Y: Math.min(y, REGION_METRES - 1) })),
    );
    replies.forEach((r, k) => {
      if (r.status === "fulfilled") heights.set(batch[k].join(","), Number(r.value.Height));
    });
  }
  if (scene !== state.scene || heights.size === 0) return;
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = steps + 1;
  const g = canvas.getContext("2d");
  for (const [key, height] of heights) {
    const [x, y] = key.split(",").map(Number);
    const col = Math.round((x / REGION_METRES) * steps);
    const row = steps - Math.round((y / REGION_METRES) * steps);
    g.fillStyle = terrainColour(height);
    g.fillRect(col, row, 1, 1);
  }
  state.terrain = canvas;
  state.dirty = true;
}

function terrainColour(height) {
  if (!Number.isFinite(height)) return "#cccccc";
  if (height < 20) return `hsl(205 55% ${Math.max(35, 40 + height)}%)`; // under the default water height
  const light = Math.min(85, 45 + (height - 20) * 0.8);
  return `hsl(${Math.max(30, 110 - (height - 20))} 30% ${light}%)`;
}

function renderObjectList() {
  const filter = $("object-filter").value.trim().toLowerCase();
  const list = $("object-list");
  const items = [];
  for (const object of state.objects.values()) {
    if (filter && !object.name.toLowerCase().includes(filter) && !object.id.includes(filter)) continue;
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = object.name || object.id;
    button.dataset.id = object.id;
    if (object.id === state.selected) button.setAttribute("aria-current", "true");
    const item = document.createElement("li");
    item.append(button);
    items.push(item);
    if (items.length >= 200) break;
  }
  list.replaceChildren(...items);
}

// ---- object details -----------------------------------------------------

async function selectObject(id) {
  state.selected = id;
  state.dirty = state.listDirty = true;
  const details = $("details");
  details.replaceChildren(paragraph("Loading…"));
  const [data, parts, inventory, scripts] = await Promise.allSettled([
    rpc("RemoteControl.Messages.GetObjectDataRequest", { ObjectID: id }),
    rpc("RemoteControl.Messages.GetObjectPartsRequest", { ObjectID: id }),
    rpc("RemoteControl.Messages.GetObjectInventoryRequest", { ObjectID: id }),
    rpc("Scripting.Messages.ListScriptsRequest", { ObjectID: id }),
  ]);
  if (state.selected !== id) return;
  const children = [];
  if (data.status === "fulfilled") {
    const d = data.value;
    $("details-title").textContent = `Object ${d.Name || id}`;
    children.push(
      record([
        ["Name", d.Name],
        ["ObjectID", d.ObjectID || id],
        ["Position", vector(d.Position)],
        ["Rotation", vector(d.Rotation)],
        ["OwnerID", d.OwnerID],
      ]),
    );
    const touch = document.createElement("button");
    touch.type = "button";
    touch.id = "touch-object";
    touch.textContent = "Touch";
    touch.addEventListener("click", () => act(() => rpc("RemoteControl.Messages.TouchObjectRequest", { ObjectID: id })));
    children.push(touch);
  } else {
    children.push(paragraph(`Cannot read this object: ${data.reason.message}`));
  }
  if (parts.status === "fulfilled") children.push(heading("Parts"), table(parts.value.Parts || []));
  if (inventory.status === "fulfilled") children.push(heading("Inventory"), table(inventory.value.Inventory || []));
  if (scripts.status === "fulfilled") {
    const names = (scripts.value.Scripts || []).map((s) => `${s.Name} (${s.State})`).join(", ");
    children.push(heading("Scripts"), paragraph(names || "none"));
  }
  details.replaceChildren(...children);
}

function vector(v) {
  return Array.isArray(v) ? v.map((n) => Number(n).toFixed(2)).join(", ") : String(v ?? "");
}

function paragraph(text) {
  const p = document.createElement("p");
  p.textContent = text;
  return p;
}

function heading(text) {
  const h = document.createElement("h3");
  h.textContent = text;
  return h;
}

function record(rows) {
  const dl = document.createElement("dl");
  dl.className = "record";
  for (const [name, value] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.dataset.field = name;
    dd.textContent = value ?? "";
    dl.append(dt, dd);
  }
  return dl;
}

function table(rows) {
  if (rows.length === 0) return paragraph("none");
  const columns = Object.keys(rows[0]).filter((k) => !k.startsWith("$") && !k.startsWith("_"));
  const t = document.createElement("table");
  const head = t.createTHead().insertRow();
  for (const c of columns) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = c;
    head.append(th);
  }
  const body = t.createTBody();
  for (const row of rows.slice(0, 100)) {
    const tr = body.insertRow();
    for (const c of columns) tr.insertCell().textContent = Array.isArray(row[c]) ? vector(row[c]) : String(row[c] ?? "");
  }
  return t;
}

// ---- scripts and their logs -----------------------------------------------

async function refreshScripts() {
  if (!state.capability || !state.scene) return;
  let reply;
  try {
    reply = await rpc("Scripting.Messages.ListScriptsRequest", {});
  } catch (e) {
    if (isCapabilityFailure(e.message)) signOut(`Your session ended: ${e.message}`);
    return;
  }
  state.scripts = reply.Scripts || [];
  $("fig-scripts").textContent = state.scripts.length;
  const rows = state.scripts.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.scriptId = s.ScriptID;
    tr.insertCell().textContent = s.Name;
    const stateCell = tr.insertCell();
    stateCell.textContent = s.State;
    stateCell.className = `state-${s.State}`;
    stateCell.dataset.field = "State";
    tr.insertCell().textContent = s.FaultReason || "";
    const cpu = tr.insertCell();
    cpu.className = "num";
    cpu.textContent = (Number(s.CpuMicros || 0) / 1000).toFixed(1);
    const events = tr.insertCell();
    events.className = "num";
    events.textContent = s.EventsHandled ?? 0;
    const actions = tr.insertCell();
    for (const [label, type] of [
      ["Start", "StartScriptRequest"],
      ["Stop", "StopScriptRequest"],
      ["Reset", "ResetScriptRequest"],
      ["Remove", "RemoveScriptRequest"],
    ]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.dataset.action = label.toLowerCase();
      button.setAttribute("aria-label", `${label} script ${s.Name}`);
      if ((label === "Start" && s.State === "running") || (label === "Stop" && s.State !== "running")) button.disabled = true;
      button.addEventListener("click", () => {
        if (label === "Remove" && !confirm(`Remove script ${s.Name}? Its storage is deleted.`)) return;
        act(async () => {
          await rpc(`Scripting.Messages.${type}`, { ScriptID: s.ScriptID });
          await refreshScripts();
        });
      });
      actions.append(button);
    }
    const log = document.createElement("button");
    log.type = "button";
    log.textContent = "Log";
    log.dataset.action = "log";
    log.setAttribute("aria-label", `Show the log of script ${s.Name}`);
    log.addEventListener("click", () => showLog(s));
    actions.append(log);
    return tr;
  });
  $("scripts").tBodies[0].replaceChildren(...rows);
}

async function act(action) {
  try {
    await action();
  } catch (e) {
    showConnection(false, e.message);
  }
}

function showLog(script) {
  state.logScript = script.ScriptID;
  state.logSeen.clear();
  state.logLast = 0;
  $("log-title").textContent = `Log of ${script.Name}`;
  $("log").replaceChildren();
  refreshLog();
}

async function refreshLog() {
  const id = state.logScript;
  if (!id) return;
  // The host answers the lines after `Since`.
  const since = state.logLast;
  try {
    const reply = await rpc("Scripting.Messages.GetScriptLogRequest", { ScriptID: id, Since: since });
    appendLog(id, reply.Lines || []);
  } catch {
    // shown by the connection line when the host is down
  }
}

function appendLog(scriptId, lines) {
  if (scriptId !== state.logScript) return;
  const pre = $("log");
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  for (const line of lines) {
    const seq = Number(line.Seq);
    if (state.logSeen.has(seq)) continue;
    state.logSeen.add(seq);
    state.logLast = Math.max(state.logLast, seq);
    const span = document.createElement("span");
    const level = String(line.Level || "info").toLowerCase();
    span.className = `level-${level}`;
    const time = line.Time ? new Date(Number(line.Time)).toLocaleTimeString() : "";
    span.textContent = `${time} ${level.toUpperCase().padEnd(5)} ${line.Text}\n`;
    pre.append(span);
  }
  if (atBottom) pre.scrollTop = pre.scrollHeight;
}

// ---- chat and figures -----------------------------------------------------

function appendChat(frame) {
  const item = document.createElement("li");
  const who = frame.FromName || frame.Name || frame.SenderName || "someone";
  item.textContent = `${who}: ${frame.Message ?? frame.Text ?? ""}`;
  const list = $("chat");
  list.append(item);
  while (list.children.length > 200) list.firstChild.remove();
  list.scrollTop = list.scrollHeight;
}

async function refreshFigures() {
  try {
    const response = await fetch(state.config.metricsPath);
    if (!response.ok) return;
    const text = await response.text();
    let total = 0;
    for (const line of text.split("\n")) {
      if (line.startsWith("dispatcher_requests_total")) total += Number(line.slice(line.lastIndexOf(" ") + 1)) || 0;
    }
    const now = performance.now();
    if (state.lastRequests) {
      const rate = (total - state.lastRequests.total) / ((now - state.lastRequests.at) / 1000);
      $("fig-requests").textContent = rate >= 0 ? rate.toFixed(1) : "–";
    }
    state.lastRequests = { total, at: now };
  } catch {
    // no figures without the metrics endpoint
  }
}

// ---- wiring ---------------------------------------------------------------

async function start() {
  try {
    const response = await fetch("/dashboard/config.json");
    if (response.ok) state.config = { ...DEFAULT_CONFIG, ...(await response.json()) };
  } catch {
    showConnection(false, "The host is unreachable; reload the page when it is back.");
  }
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $("login-button");
    button.disabled = true;
    $("login-error").textContent = "";
    try {
      await signIn($("first-name").value.trim(), $("last-name").value.trim(), $("password").value);
      $("password").value = "";
    } catch (e) {
      $("login-error").textContent = `Cannot sign in: ${e.message}`;
    } finally {
      button.disabled = false;
    }
  });
  $("logout").addEventListener("click", () => signOut());
  $("region").addEventListener("change", (e) => selectRegion(e.target.value));
  $("object-filter").addEventListener("input", () => {
    state.listDirty = true;
  });
  $("object-list").addEventListener("click", (e) => {
    const id = e.target.closest("button")?.dataset.id;
    if (id) selectObject(id);
  });
  $("map").addEventListener("click", (e) => {
    const canvas = $("map");
    const rect = canvas.getBoundingClientRect();
    const x = ((e.clientX - rect.left) / rect.width) * REGION_METRES;
    const y = REGION_METRES - ((e.clientY - rect.top) / rect.height) * REGION_METRES;
    const hit = nearestObject(x, y, (8 / rect.width) * REGION_METRES);
    if (hit) selectObject(hit.id);
  });
  $("chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("chat-text").value;
    if (!text) return;
    act(async () => {
      await rpc("RemoteControl.Messages.ChatRequest", { Message: text, Channel: 0, Position: [128, 128, 25] });
      $("chat-text").value = "";
    });
  });
  requestAnimationFrame(drawMap);
  const saved = sessionStorage.getItem("dispatcher.session");
  if (saved) {
    try {
      Object.assign(state, JSON.parse(saved));
      await enterHost();
      return;
    } catch (e) {
      signOut(`Sign in again: ${e.message}`);
      return;
    }
  }
  $("first-name").focus();
}

start();
