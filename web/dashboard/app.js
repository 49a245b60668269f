// The dashboard: a page per hash route (#/, #/notifications, #/notifications/ID, #/vmoves,
// #/segments), drawn with DOM calls only — every string from the API goes in as text, never as
// markup. Later pages (silences, healers, conditions, agents) add a route and a nav link.
import { api, ApiError, setToken, token } from "./api.js";
import {
  duration, formatTime, moveStatus, nameOr, notificationTone, progressOf, shortId, sortMoves,
  typeLabel,
} from "./format.js";

const main = document.getElementById("main");
let refreshTimer = 0;  // the running page's auto-refresh, cleared on every navigation

// h("td", {class: "x", title: "y"}, "text", child...): an element; strings become text nodes.
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function time(text) {
  const [shown, title] = formatTime(text);
  return shown ? h("time", { datetime: text, title }, shown) : "";
}

function tag(label, tone) {
  return h("span", { class: `tag tone-${tone}` }, label);
}

function idCell(id) {
  return h("code", { class: "id", title: id }, shortId(id));
}

function show(...nodes) {
  main.replaceChildren(...nodes);
}

function showError(e) {
  // A refused or expired token goes back to the sign-in with the reason.
  if (e instanceof ApiError && e.status === 401) return signIn(e.message);
  show(h("p", { class: "error", role: "alert" }, e.message ?? String(e)));
}

// --- sign-in ---------------------------------------------------------------------------------

function signIn(reason) {
  setToken("");
  updateWho();
  const input = h("input", { id: "token", type: "password", autocomplete: "off", required: true });
  const form = h("form", {
    class: "card signin",
    onsubmit: (ev) => {
      ev.preventDefault();
      setToken(input.value.trim());
      route();
    },
  },
  h("h1", {}, "Sign in"),
  reason ? h("p", { class: "error", role: "alert" }, reason) : null,
  h("label", { for: "token" }, "Warden token"),
  input,
  h("button", { type: "submit" }, "Sign in"));
  show(form);
  input.focus();
}

function updateWho() {
  const signout = document.getElementById("signout");
  signout.hidden = !token();
  document.getElementById("who").textContent = token() ? "signed in" : "";
}

// --- pages -----------------------------------------------------------------------------------

async function overview() {
  const segments = (await api("/v1/segments?limit=1000")).segments;
  const cards = [];
  for (const s of segments) {
    const hosts = (await api(`/v1/segments/${encodeURIComponent(s.uuid)}/hosts?limit=1000`)).hosts;
    const up = hosts.filter((x) => !x.on_maintenance).length;
    cards.push(h("section", { class: "card" },
      h("h2", {}, s.name),
      h("p", { class: "muted" }, `${s.recovery_method} · ${hosts.length} hosts, ${up} in service`),
      h("ul", { class: "hosts" }, hosts.map((x) => h("li", {},
        x.name, " ",
        x.on_maintenance ? tag("on maintenance", "failed") : tag("up", "succeeded"),
        x.reserved ? tag("reserved", "pending") : null)))));
  }
  show(h("h1", {}, "Overview"),
    cards.length ? h("div", { class: "grid" }, cards) : h("p", { class: "muted" }, "No segments yet."));
}

async function notifications() {
  const list = (await api("/v1/notifications?limit=50&sort_key=created_at&sort_dir=desc")).notifications;
  const rows = list.map((n) => h("tr", {},
    h("td", {}, h("a", { href: `#/notifications/${encodeURIComponent(n.notification_uuid)}` },
      shortId(n.notification_uuid))),
    h("td", {}, typeLabel(n.type)),
    h("td", {}, tag(n.status, notificationTone(n.status))),
    h("td", {}, idCell(n.source_host_uuid)),
    h("td", {}, time(n.generated_time)),
    h("td", {}, time(n.created_at))));
  show(h("h1", {}, "Notifications"),
    h("table", {},
      h("thead", {}, h("tr", {}, ["Notification", "Type", "Status", "Host", "Generated", "Created"]
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows)),
    list.length ? null : h("p", { class: "muted" }, "No notifications."));
}

function movesTable(moves) {
  return h("table", { class: "moves" },
    h("thead", {}, h("tr", {}, ["VM", "Source", "Destination", "Type", "Status", "Start", "End",
      "Duration", "Message"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, sortMoves(moves).map((m) => {
      const [label, tone] = moveStatus(m.status);
      return h("tr", {},
        h("td", { title: m.instance_uuid }, nameOr(m.instance_name, m.instance_uuid)),
        h("td", {}, m.source_host ?? ""),
        h("td", {}, m.dest_host || "Pending"),
        h("td", {}, m.type ?? ""),
        h("td", {}, tag(label, tone)),
        h("td", {}, time(m.start_time)),
        h("td", {}, time(m.end_time)),
        h("td", {}, duration(m.start_time, m.end_time)),
        h("td", { class: tone === "failed" ? "error" : "" }, m.message ?? ""));
    })));
}

async function notificationDetail(id) {
  const draw = async () => {
    const n = (await api(`/v1/notifications/${encodeURIComponent(id)}`)).notification;
    const moves = (await api(`/v1/notifications/${encodeURIComponent(id)}/vmoves?limit=1000`)).vmoves;
    const p = progressOf(moves);
    const running = n.status === "new" || n.status === "running";
    const scroll = window.scrollY;
    show(h("h1", {}, "Notification ", idCell(n.notification_uuid)),
      h("section", { class: "card summary" },
        h("div", {}, tag(n.status, notificationTone(n.status)), " ", typeLabel(n.type)),
        h("div", { class: "counts" },
          h("span", {}, `Total VMs ${p.total}`),
          h("span", { class: "tone-succeeded-text" }, `Succeeded ${p.succeeded}`),
          h("span", { class: "tone-failed-text" }, `Failed ${p.failed}`)),
        h("progress", { max: 100, value: p.percent, "aria-label": "moves ended" }),
        h("span", {}, `${p.percent}%`),
        running ? h("p", { class: "muted", id: "refreshing" }, "Auto-refreshing every 5s") : null),
      moves.length ? movesTable(moves) : h("p", { class: "muted" }, "No VM moves."));
    window.scrollTo(0, scroll);
    if (running) refreshTimer = setTimeout(() => draw().catch(showError), 5000);
  };
  await draw();
}

async function vmoves() {
  const moves = (await api("/v1/vmoves?notifications=50&limit=1000")).vmoves;
  show(h("h1", {}, "VM Moves"),
    h("button", { type: "button", onclick: () => route() }, "Refresh"),
    moves.length ? movesTable(moves) : h("p", { class: "muted" }, "No VM moves."));
}

async function segments() {
  const list = (await api("/v1/segments?limit=1000")).segments;
  show(h("h1", {}, "Segments"),
    h("table", {},
      h("thead", {}, h("tr", {}, ["Name", "Recovery method", "Service type", "Enabled", "UUID"]
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, list.map((s) => h("tr", {},
        h("td", {}, s.name), h("td", {}, s.recovery_method), h("td", {}, s.service_type),
        h("td", {}, s.enabled === false ? "no" : "yes"), h("td", {}, idCell(s.uuid)))))));
}

// --- routing ---------------------------------------------------------------------------------

async function route() {
  clearTimeout(refreshTimer);
  updateWho();
  const path = location.hash.replace(/^#/, "") || "/";
  const [, page = "", id] = path.split("/");
  for (const a of document.querySelectorAll("#nav a")) {
    a.toggleAttribute("aria-current", a.dataset.page === (page || "overview"));
  }
  try {
    if (page === "") await overview();
    else if (page === "notifications" && id) await notificationDetail(decodeURIComponent(id));
    else if (page === "notifications") await notifications();
    else if (page === "vmoves") await vmoves();
    else if (page === "segments") await segments();
    else show(h("p", { class: "error" }, `No page ${path}.`));
    main.focus({ preventScroll: true });
  } catch (e) {
    showError(e);
  }
}

document.getElementById("signout").addEventListener("click", () => signIn(""));
window.addEventListener("hashchange", route);
route();
