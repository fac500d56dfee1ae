// armbrain console page: one websocket for state (JSON) and camera frames (JPEG), POSTs for commands.
// Text from the robot goes into the page with textContent only (never as HTML).
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
if (params.has("token")) {  // keep the token for this tab, out of the address bar and history
  sessionStorage.setItem("armbrain-token", params.get("token"));
  params.delete("token");
  history.replaceState(null, "", location.pathname + (params.toString() ? "?" + params : ""));
}
let token = sessionStorage.getItem("armbrain-token") || "";
let socket = null, retry = 500, frameUrl = null, suggestionsKey = "", lastNotice = "";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
const fmt = (v, n = 3) => (typeof v === "number" && isFinite(v) ? (Math.abs(v) < 0.5 * 10 ** -n ? 0 : v).toFixed(n) : "–");

let noticeTimer = null;
function notice(text) {  // shown for 10 s (the e-stop state has its own banner, always up to date)
  $("notice").hidden = !text;
  $("notice").textContent = text || "";
  clearTimeout(noticeTimer);
  if (text) noticeTimer = setTimeout(() => notice(""), 10000);
}

async function post(path, body) {
  const headers = {"Content-Type": "application/json", "X-Armbrain-Console": "1"};
  if (token) headers["X-Armbrain-Token"] = token;
  try {
    const r = await fetch(path, {method: "POST", headers, body: JSON.stringify(body || {})});
    const data = await r.json().catch(() => ({message: r.statusText}));
    if (!r.ok) {
      notice(data.message || ("refused: HTTP " + r.status));
      if (r.status === 401) showAuth(true);
    } else notice("");
    return r.ok;
  } catch (e) {
    notice("the console does not answer: " + e);
    return false;
  }
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${proto}//${location.host}/ws` + (token ? "?token=" + encodeURIComponent(token) : ""));
  socket.binaryType = "blob";
  socket.onopen = () => { retry = 500; $("link").dataset.state = "live"; $("link").textContent = "live"; };
  socket.onclose = () => {
    $("link").dataset.state = "lost";
    $("link").textContent = "console unreachable: retrying";
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 5000);
  };
  socket.onmessage = (ev) => {
    if (typeof ev.data === "string") render(JSON.parse(ev.data));
    else showFrame(ev.data);
  };
}

function showFrame(blob) {
  const url = URL.createObjectURL(blob);
  const img = $("frame");
  img.onload = () => { if (frameUrl && frameUrl !== url) URL.revokeObjectURL(frameUrl); frameUrl = url; };
  img.src = url;
  $("frame-missing").hidden = true;
}

function showAuth(needed) {
  $("auth").hidden = !needed;
  $("main").hidden = needed;
}

function renderEstop(e) {
  const s = $("estop-state");
  s.dataset.engaged = e.known ? String(e.engaged) : "unknown";
  s.textContent = e.engaged ? "E-STOP ENGAGED" : (e.known ? "e-stop released" : "e-stop: not engaged");
  $("release").hidden = !e.engaged;
  const d = $("estop-detail");
  d.hidden = !e.engaged && (e.honoured_by || []).length > 0;
  if (e.engaged) {
    d.textContent = `${e.text}. The arm holds; goals are refused until released. ` +
      `Acknowledged by: ${(e.acks || []).join(", ") || "no node yet"}.`;
  } else if (!(e.honoured_by || []).length) {
    d.textContent = "No node honours the e-stop right now (no graph on this ROS domain?). " +
      "Use the robot's hardware emergency stop if the arm must stop.";
  }
}

function renderObjects(s) {
  const tb = $("objects");
  tb.replaceChildren();
  for (const o of s.objects) {
    const tr = el("tr");
    tr.append(el("td", o.id), el("td", o.label), el("td", fmt(o.x)), el("td", fmt(o.y)), el("td", fmt(o.z)),
      el("td", o.size.map((v) => (v * 100).toFixed(1)).join(" × ")));
    tb.append(tr);
  }
  if (!s.objects.length) {
    const tr = el("tr"); const td = el("td", s.objects_age === null ? "waiting for perception/objects…" :
      "perception sees no object on the table", "muted"); td.colSpan = 6; tr.append(td); tb.append(tr);
  }
  const info = $("objects-info");
  info.textContent = s.objects_age === null ? "" : (s.objects_stale ? `stale: ${s.objects_age.toFixed(1)} s old` :
    `${s.objects.length} seen`);
  info.className = s.objects_stale ? "stale-text" : "";
  const key = s.suggestions.join("|");
  if (key !== suggestionsKey) {
    suggestionsKey = key;
    $("suggestions").replaceChildren(...s.suggestions.map((g) => { const o = el("option"); o.value = g; return o; }));
  }
}

function drawMap(s) {
  const c = $("map"), g = c.getContext("2d");
  const W = c.width, H = c.height;
  g.clearRect(0, 0, W, H);
  // robot frame: x forward (drawn up), y left (drawn left); fit the objects, the bin and the base
  const pts = [[0, 0]];
  for (const o of s.objects) pts.push([o.x, o.y]);
  if (s.bin) pts.push([s.bin.x, s.bin.y]);
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const cx = (Math.min(...xs) + Math.max(...xs)) / 2, cy = (Math.min(...ys) + Math.max(...ys)) / 2;
  const span = Math.max(Math.max(...xs) - Math.min(...xs) + 0.3, (Math.max(...ys) - Math.min(...ys) + 0.3) * H / W, 0.6);
  const k = (H - 20) / span;
  const X = (y) => W / 2 - (y - cy) * k, Y = (x) => H / 2 - (x - cx) * k;
  g.strokeStyle = "#e5e7eb"; g.lineWidth = 1;
  for (let v = -2; v <= 2; v += 0.1) {
    g.beginPath(); g.moveTo(X(v), 0); g.lineTo(X(v), H); g.stroke();
    g.beginPath(); g.moveTo(0, Y(v)); g.lineTo(W, Y(v)); g.stroke();
  }
  g.fillStyle = "#374151"; g.beginPath(); g.arc(X(0), Y(0), 9, 0, 2 * Math.PI); g.fill();
  g.font = "12px system-ui, sans-serif"; g.fillText("robot base", X(0) + 12, Y(0) + 4);
  const box = (x, y, yaw, sx, sy) => {  // a rectangle centred at (x, y), sizes along its own axes
    g.save(); g.translate(X(y), Y(x)); g.rotate(-yaw); g.beginPath(); g.rect(-sy * k / 2, -sx * k / 2, sy * k, sx * k);
    g.restore();
  };
  if (s.bin) {
    box(s.bin.x, s.bin.y, s.bin.yaw, s.bin.inner_size[0], s.bin.inner_size[1]);
    g.setLineDash(s.bin.seen ? [] : [6, 4]); g.strokeStyle = "#92400e"; g.lineWidth = 3; g.stroke(); g.setLineDash([]);
    g.fillStyle = "#92400e"; g.fillText(`bin (${s.bin.seen ? "seen" : s.bin.source})`, X(s.bin.y) - 28, Y(s.bin.x) + 4);
  }
  for (const o of s.objects) {
    box(o.x, o.y, o.yaw, o.size[0], o.size[1]);
    const colour = (o.label || "").split(" ")[0];
    g.fillStyle = CSS.supports("color", colour) ? colour : "#9ca3af"; g.fill();
    g.strokeStyle = "#111827"; g.lineWidth = 1.5; g.stroke();
    g.fillStyle = "#111827"; g.fillText(o.id, X(o.y) + o.size[1] * k / 2 + 4, Y(o.x) + 4);
  }
  const t = s.table;
  $("table-info").textContent = "robot's view: x forward ↑, y left ←, grid 10 cm" + (t ? (t.detected ?
    `; table plane seen at z = ${fmt(0 - t.plane[3] / (t.plane[2] || 1), 3)} m` : "; table plane not seen: the cell's prior") : "");
}

function stageRows(stages, tb) {
  tb.replaceChildren();
  tb.closest("table").hidden = !stages.length;
  for (const st of stages) {
    const tr = el("tr");
    tr.append(el("td", st.stage), el("td", st.object_id || ""), el("td", st.attempt), el("td", fmt(st.seconds, 2)),
      el("td", st.success === null ? "…" : (st.success ? "ok" : "failed")));
    if (st.message && st.success === false) tr.title = st.message;
    tb.append(tr);
  }
}

function renderTask(s) {
  const cur = s.current;
  const running = !!(cur && cur.running);
  $("cancel").disabled = !running;
  $("send").disabled = running || !s.planner_ready;
  const busy = s.running_goal && !running ? `the planner runs “${s.running_goal}”, given elsewhere` :
    (!s.planner_ready ? "no planner answers on planner/execute_task yet" : "");
  $("planner-busy").textContent = busy;
  if (!cur) return;
  $("cur-goal").textContent = cur.goal;
  const badge = $("cur-status");
  badge.textContent = cur.status; badge.className = "badge " + cur.status;
  $("cur-bar").style.width = `${Math.round(100 * (cur.progress || 0))}%`;
  $("cur-stage").textContent = running ? `stage ${cur.stage || "…"}, attempt ${cur.attempt}` +
    (cur.message ? ` — ${cur.message}` : "") : (cur.error && cur.error !== "SUCCESS" ? `${cur.error}: ` : "") + cur.message;
  stageRows(cur.stages, $("cur-stages"));
}

function renderHealth(s) {
  const box = $("health");
  box.replaceChildren();
  if (!s.health.length) box.append(el("div", "nothing on /diagnostics yet", "muted"));
  for (const h of s.health) {
    const d = el("div", null, "node " + (h.alive ? h.level : "silent"));
    const head = el("div", null, "node-head");
    head.append(el("span", h.name.replace(/^armbrain\//, "")),
      el("span", h.alive ? h.level : `silent ${h.silent_s.toFixed(0)} s`));
    d.append(head, el("div", h.message, "muted"));
    const dl = el("dl");
    for (const [k, v] of Object.entries(h.values)) {
      if (!/rate|age|estop|running|frames/.test(k) || k === "estop") continue;
      dl.append(el("dt", k), el("dd", v));
    }
    d.append(dl);
    box.append(d);
  }
}

function renderHistory(s) {
  const ol = $("history");
  ol.replaceChildren();
  if (!s.history.length) ol.append(el("li", "no goal given from this console yet", "muted"));
  for (const r of s.history) {
    const li = el("li");
    const head = el("div", null, "h-head");
    const when = new Date(r.sent_at * 1000).toLocaleTimeString();
    head.append(el("span", `${when}  ${r.goal}`), el("span", r.status, "badge " + r.status));
    li.append(head);
    const extra = r.duration ? ` (${r.duration.toFixed(1)} s)` : "";
    if (r.message || extra) li.append(el("div", (r.error && r.error !== "SUCCESS" ? r.error + ": " : "") +
      r.message + extra, "h-msg"));
    ol.append(li);
  }
}

function render(s) {
  renderEstop(s.estop);
  if (!s.authorised) { showAuth(true); return; }
  showAuth(false);
  renderObjects(s);
  drawMap(s);
  renderTask(s);
  renderHealth(s);
  renderHistory(s);
  if (s.notice && s.notice !== lastNotice) notice(s.notice);
  lastNotice = s.notice;
  const f = s.frame;
  $("frame").classList.toggle("stale", f.stale);
  $("frame-info").textContent = f.age === null ? "" : (f.stale ? `stale: ${f.age.toFixed(1)} s old` :
    `${f.size[0]}×${f.size[1]}, perception's overlay`);
}

$("estop").addEventListener("click", () => post("/api/estop", {engaged: true, reason: "console STOP button"}));
$("release").addEventListener("click", () => {
  if (confirm("Release the e-stop? Nothing moves until a new goal is given.")) post("/api/estop", {engaged: false});
});
$("goal-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const goal = $("goal").value.trim();
  if (!goal) { notice('type a goal, e.g. "put the red cube in the bin"'); return; }
  if (await post("/api/goal", {goal})) $("goal").value = "";
});
$("cancel").addEventListener("click", () => post("/api/cancel", {}));
$("auth-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("armbrain-token", token);
  notice("");
  if (socket) socket.close();  // reconnects with the token
});
connect();
