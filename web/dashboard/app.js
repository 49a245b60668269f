// The dashboard: a page per hash route (#/, #/notifications, #/notifications/ID, #/vmoves,
// #/segments), drawn with DOM calls only — every string from the API goes in as text, never as
// markup. Later pages (silences, healers, conditions, agents) add a route and a nav link.
import { api, ApiError, isAbort, newNavigation, setToken, token } from "./api.js";
import {
  duration, endedPercent, formatTime, headroomSummary, hostState, localInputValue, moveStatus, nameOr,
  notificationTone, progressOf, recoveryTimings, shortId, sortMoves, stepState, timelineOf,
  typeLabel,
} from "./format.js";

const main = document.getElementById("main");
let refreshTimer = 0;  // the running page's auto-refresh, cleared on every navigation
let me = null;         // {name, role} of the token (GET /whoami); admins get the actions

function isAdmin() {
  return me?.role === "admin";
}

// h("td", {class: "x", title: "y"}, "text", child...): an element; strings become text nodes.
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
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

// Copies `text`; the Clipboard API needs a secure context (https or localhost), so a plain-http
// controller falls back to copying a selection.
async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  const area = h("textarea", { class: "offscreen", readonly: true }, text);
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("copy refused");
}

const SVG = "http://www.w3.org/2000/svg";

// svg("rect", {x: 1}, child...): an SVG element, attributes only (the CSP allows no inline
// style).
function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// A button that copies `id` (one listener for every such button, below).
function copyButton(id) {
  return h("button", { type: "button", class: "copy", title: `Copy ${id}`, "aria-label": `Copy ${id}`,
    "data-copy": id });
}

// A shortened id with the whole on hover and a button that copies the whole.
function idCell(id) {
  if (!id) return "";
  return h("span", { class: "idcell" }, h("code", { class: "id", title: id }, shortId(id)), copyButton(id));
}

document.addEventListener("click", async (ev) => {
  const button = ev.target instanceof Element ? ev.target.closest("button[data-copy]") : null;
  if (!button) return;
  ev.preventDefault();
  button.classList.add("copied");
  try {
    await copyText(button.dataset.copy);
    button.textContent = "✓";
  } catch {
    button.textContent = "✗";
  }
  setTimeout(() => {
    button.classList.remove("copied");
    button.textContent = "";
  }, 1500);
});

// A VM move's status with the seed's icon (clock, spinner, check, cross).
function moveTag(status) {
  const [label, tone] = moveStatus(status);
  return h("span", { class: `tag tone-${tone} icon-${tone}` }, label);
}

// Records how long a page took from its data's arrival to the frame after it was drawn, as the
// performance measure "warden:drawn" (read by bench/dashboard).
function drawnSince(dataAt) {
  requestAnimationFrame(() => setTimeout(() => {
    // A page left open for hours redraws thousands of times: keep the last hundred.
    if (performance.getEntriesByName("warden:drawn").length >= 100) {
      performance.clearMeasures("warden:drawn");
    }
    performance.measure("warden:drawn", { start: dataAt, end: performance.now() });
  }, 0));
}

// Replaces the page; what is not there (null, false) is left out, as in h(). Every table cell
// gets its column's name, which a phone-width window shows in front of it (a row per card).
function show(...nodes) {
  main.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
  for (const t of main.querySelectorAll("table:not(.moves)")) {  // movesTable labels its own
    const names = [...t.querySelectorAll("thead th")].map((th) => th.textContent);
    for (const row of t.tBodies[0]?.rows ?? []) {
      for (let i = 0; i < row.cells.length; i++) row.cells[i].dataset.label = names[i] ?? "";
    }
  }
}

function showError(e) {
  if (isAbort(e)) return;  // a navigation replaced this page
  // A refused or expired token goes back to the sign-in with the reason (none on a first
  // visit, when there was no token to refuse).
  if (e instanceof ApiError && e.status === 401) return signIn(token() ? e.message : "");
  show(h("p", { class: "error", role: "alert" }, e.message ?? String(e)));
}

// --- sign-in ---------------------------------------------------------------------------------

let signInMethods = null;  // GET /signin: ["password", "token"] with Keystone, ["token"] else

// The sign-in: a token, and with Keystone a user name, password and project that Warden
// exchanges with Keystone for the user's own token. `reason` says why (a refused token).
async function signIn(reason) {
  clearTimeout(refreshTimer);
  newNavigation();
  setToken("");
  me = null;
  updateWho();
  let methods = signInMethods;
  if (methods === null) {
    try {
      methods = signInMethods = (await api("/signin")).methods;
    } catch (e) {
      if (isAbort(e)) return;
      methods = ["token"];  // asked again at the next sign-in
    }
  }
  const error = reason ? h("p", { class: "error", role: "alert" }, reason) : null;
  const tokenInput = h("input", { id: "token", type: "password", autocomplete: "off", required: true });
  const tokenForm = h("form", {
    class: "card signin",
    onsubmit: (ev) => {
      ev.preventDefault();
      setToken(tokenInput.value.trim());
      route();
    },
  },
  h("h1", {}, "Sign in"),
  methods.includes("password") ? null : error,
  h("label", { for: "token" }, methods.includes("password") ? "Keystone token" : "Warden token"),
  tokenInput,
  h("button", { type: "submit" }, "Sign in"));
  if (!methods.includes("password")) {
    show(tokenForm);
    tokenInput.focus();
    return;
  }
  const field = (id, label, attrs = {}) => [h("label", { for: id }, label),
    h("input", { id, name: id, required: true, autocomplete: "off", ...attrs })];
  const failed = h("p", { class: "error", role: "alert" });
  const passwordForm = h("form", {
    class: "card signin password",
    onsubmit: async (ev) => {
      ev.preventDefault();
      const v = Object.fromEntries([...ev.target.elements].filter((el) => el.name)
        .map((el) => [el.name, el.value]));
      failed.textContent = "";
      const submit = ev.target.querySelector("button[type=submit]");
      submit.disabled = true;
      try {
        const r = await api("/signin", { method: "POST", body: {
          username: v.username, password: v.password, project: v.project,
          user_domain: v.user_domain || "Default", project_domain: v.project_domain || "Default" } });
        setToken(r.token);
        route();
      } catch (e) {
        if (isAbort(e)) return;
        failed.textContent = e.message;
        submit.disabled = false;
      }
    },
  },
  h("h1", {}, "Sign in"),
  error,
  field("username", "User name", { autocomplete: "username" }),
  field("password", "Password", { type: "password", autocomplete: "current-password" }),
  field("project", "Project"),
  h("details", {}, h("summary", {}, "Domains"),
    h("div", { class: "field" }, field("user_domain", "User domain", { value: "Default" })),
    h("div", { class: "field" }, field("project_domain", "Project domain", { value: "Default" }))),
  h("button", { type: "submit" }, "Sign in"),
  failed);
  tokenForm.querySelector("h1").replaceWith(h("h2", {}, "Or with a token"));
  show(passwordForm, tokenForm);
  passwordForm.querySelector("#username").focus();
}

function updateWho() {
  const signout = document.getElementById("signout");
  signout.hidden = !token();
  document.getElementById("who").textContent =
    me && token() ? `${me.name} (${me.role})` : "";
}

// An action button that shows the API's answer next to it: a refusal is a sentence.
// A dangerous one (a delete) asks once more in place: "Confirm: Delete host".
function actionButton(label, run, { danger = false } = {}) {
  const status = h("span", { class: "status", role: "status" });
  let armed = !danger;
  const button = h("button", {
    type: "button", class: danger ? "danger" : "",
    onclick: async () => {
      if (!armed) {
        armed = true;
        button.textContent = `Confirm: ${label}`;
        return;
      }
      button.disabled = true;
      status.textContent = "";
      try {
        await run();
        await route();
      } catch (e) {
        if (isAbort(e)) return;
        if (e instanceof ApiError && e.status === 401) return signIn(e.message);
        status.className = "status error";
        status.textContent = e.message;
        button.disabled = false;
      }
    },
  }, label);
  return h("span", { class: "action" }, button, status);
}

// A page's filters: submitting puts the non-empty fields in the page's hash query.
function filterForm(page, ...fields) {
  return h("form", {
    class: "filters",
    onsubmit: (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams();
      for (const el of ev.target.elements) if (el.name && el.value) q.set(el.name, el.value);
      location.hash = `#/${page}?${q}`;
    },
  }, ...fields);
}

let forms = 0;

// A form whose submit calls `run(fields)`; the API's refusal shows in the form.
function apiForm(title, fields, submitLabel, run, note) {
  const error = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit" }, submitLabel);
  const inputs = {};
  const form_n = ++forms;  // ids unique on the page: several forms have a "name" field
  const rows = fields.map((f) => {
    const id = `f${form_n}-${f.name}`;
    let input;
    if (f.options) {
      input = h("select", { id, name: f.name },
        f.options.map((o) => h("option", { value: o, selected: o === f.value }, o)));
    } else if (f.multiline) {
      input = h("textarea", { id, name: f.name, rows: 3 }, f.value ?? "");
    } else {
      input = h("input", { id, name: f.name, value: f.value ?? "",
                           required: f.required, placeholder: f.placeholder ?? "" });
    }
    inputs[f.name] = input;
    return h("div", { class: "field" }, h("label", { for: id }, f.label), input);
  });
  const form = h("form", {
    class: "card form",
    onsubmit: async (ev) => {
      ev.preventDefault();
      if (submit.disabled) return;
      error.textContent = "";
      const values = Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value]));
      const before = location.hash;
      submit.disabled = true;  // one submit at a time: a double click is not two recoveries
      try {
        await run(values);
        if (location.hash === before) await route();  // else the hash change routes
      } catch (e) {
        if (isAbort(e)) return;
        if (e instanceof ApiError && e.status === 401) return signIn(e.message);
        error.textContent = e.message;
        submit.disabled = false;
      }
    },
  }, h("h2", {}, title), note ? h("p", { class: "warning" }, note) : null, rows, submit, error);
  form.inputs = inputs;
  return form;
}

// --- pages -----------------------------------------------------------------------------------

// The overview's N+1 box of a segment: checked once per visit of the page (it asks the cloud),
// then kept across the page's refreshes.
function headroomBox(segment, boxes) {
  if (boxes.has(segment.uuid)) return boxes.get(segment.uuid);
  const box = h("div", { class: "headroom", "aria-live": "polite" },
    h("span", { class: "muted" }, "Checking N+1…"));
  boxes.set(segment.uuid, box);
  api(`/v1/segments/${encodeURIComponent(segment.uuid)}/headroom`).then((r) => {
    const v = headroomSummary(r.headroom);
    box.replaceChildren(tag(v.label, v.tone), " ", h("span", {}, v.text));
    if (v.short.length) box.append(h("ul", { class: "short" }, v.short.map((line) => h("li", {}, line))));
  }, (e) => {
    if (isAbort(e)) return;
    box.replaceChildren(tag("N+1 unavailable", "pending"), " ", h("span", { class: "muted" }, e.message));
  });
  return box;
}

const STATUSES = ["new", "running", "error", "failed", "ignored", "finished"];

// Per segment its hosts' states and N+1 check; what is being recovered; the last 24 h; the
// recent recoveries' timings. Refreshes every 5 s while something is being recovered.
async function overview() {
  const boxes = new Map();
  const draw = async () => {
    const o = (await api("/v1/overview")).overview;
    const dataAt = performance.now();
    const scroll = window.scrollY;
    const day = o.last_24h;
    const active = o.active.map((n) => {
      const pct = endedPercent(n.vmoves);
      return h("li", {},
        h("a", { href: `#/notifications/${encodeURIComponent(n.notification_uuid)}` },
          n.host_name || shortId(n.source_host_uuid)),
        " ", typeLabel(n.type), " ", tag(n.status, notificationTone(n.status)),
        n.vmoves.total ? [" ", h("progress", { max: 100, value: pct,
          "aria-label": `moves ended of ${n.host_name}` }),
        ` ${n.vmoves.succeeded + n.vmoves.failed + n.vmoves.ignored} of ${n.vmoves.total} VMs`] : null);
    });
    const segments = o.segments.map((s) => h("section", { class: "card segment-overview" },
      h("h2", {}, s.name),
      h("p", { class: "muted" }, `${s.recovery_method} · ${s.hosts.length} hosts, ` +
        `${s.hosts.filter((x) => x.state === "up").length} up`),
      h("ul", { class: "hosts" }, s.hosts.map((x) => {
        const [label, tone] = hostState(x.state);
        return h("li", {}, h("span", { class: "host-name" }, x.name), " ",
          x.notification_uuid
            ? h("a", { href: `#/notifications/${encodeURIComponent(x.notification_uuid)}` }, tag(label, tone))
            : tag(label, tone),
          x.reserved && x.state !== "reserved" ? [" ", tag("reserved", "pending")] : null);
      })),
      headroomBox(s, boxes)));
    const recent = o.recent.length ? h("table", { class: "recent" },
      h("thead", {}, h("tr", {}, ["Notification", "Host", "Status", "Generated", "Reported after",
        "First move after", "Last VM recovered after", "Total", "VMs"]
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, o.recent.map((n) => {
        const t = recoveryTimings(n);
        return h("tr", {},
          h("td", {}, h("a", { href: `#/notifications/${encodeURIComponent(n.notification_uuid)}` },
            shortId(n.notification_uuid))),
          h("td", {}, n.host_name || shortId(n.source_host_uuid)),
          h("td", {}, tag(n.status, notificationTone(n.status))),
          h("td", {}, time(n.generated_time)),
          h("td", {}, t.reported || "—"), h("td", {}, t.firstMove || "—"),
          h("td", {}, t.lastRecovered || "—"), h("td", {}, t.total || "—"),
          h("td", {}, `${n.vmoves.succeeded} of ${n.vmoves.total}`));
      }))) : h("p", { class: "muted" }, "No finished host recoveries yet.");
    show(h("h1", {}, "Overview"),
      h("div", { class: "grid" },
        h("section", { class: "card" }, h("h2", {}, "Being recovered"),
          active.length ? h("ul", { class: "active" }, active) : h("p", { class: "muted" }, "Nothing."),
          o.active_total > o.active.length
            ? h("p", { class: "muted" }, `and ${o.active_total - o.active.length} more (new, ` +
              "running or in error: see Notifications)") : null),
        h("section", { class: "card" }, h("h2", {}, "Last 24 hours"),
          day.total ? h("p", { class: "day" }, STATUSES.filter((st) => day[st]).map((st) =>
            h("a", { href: `#/notifications?${new URLSearchParams({ status: st,
              "generated-since": localInputValue(o.since) })}` },
            tag(`${st} ${day[st]}`, notificationTone(st)))))
            : h("p", { class: "muted" }, "No notifications."))),
      h("h2", { class: "section" }, "Segments"),
      segments.length ? h("div", { class: "grid" }, segments)
        : h("p", { class: "muted" }, "No segments yet."),
      h("h2", { class: "section" }, "Recent host recoveries"),
      recent);
    window.scrollTo(0, scroll);
    drawnSince(dataAt);
    if (o.active_total > 0) {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(() => draw().catch(showError), 5000);
    }
  };
  await draw();
}

// Host UUID → name, and every host for the filters, from the overview (one cached answer).
async function hostNames() {
  const o = (await api("/v1/overview")).overview;
  const names = new Map();
  for (const s of o.segments) for (const x of s.hosts) names.set(x.uuid, x.name);
  return names;
}

const PAYLOADS = {
  COMPUTE_HOST: '{"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}',
  VM: '{"event": "LIFECYCLE", "instance_uuid": "", "vir_domain_event": "STOPPED_FAILED"}',
  PROCESS: '{"event": "STOPPED", "process_name": "nova-compute"}',
};

// Retry (error, failed) and Cancel (new, running, error, asked once more) where the API allows
// them. For admins.
function notificationActions(n) {
  const path = `/v1/notifications/${encodeURIComponent(n.notification_uuid)}/action`;
  return [
    n.status === "error" || n.status === "failed"
      ? actionButton("Retry", () => api(path, { method: "POST", body: { retry: null } })) : null,
    n.status === "new" || n.status === "running" || n.status === "error"
      ? actionButton("Cancel", () => api(path, { method: "POST", body: { cancel: null } }),
        { danger: true }) : null,
  ];
}

// The list's orders: [label, sort_key, sort_dir].
const ORDERS = [
  ["Newest first", "created_at", "desc"], ["Oldest first", "created_at", "asc"],
  ["Generated, newest first", "generated_time", "desc"], ["Status", "status", "asc"],
  ["Type", "type", "asc"],
];

async function notifications(params) {
  const order = ORDERS.find((o) => o[0] === params.get("order")) ?? ORDERS[0];
  const query = new URLSearchParams({ limit: "50", sort_key: order[1], sort_dir: order[2] });
  for (const k of ["type", "status", "source_host_uuid", "marker"]) {
    if (params.get(k)) query.set(k, params.get(k));
  }
  // The form's "since" is the viewer's local time; the API reads naive UTC.
  const since = new Date(params.get("generated-since") ?? "");
  if (!Number.isNaN(since.getTime())) query.set("generated-since", since.toISOString().slice(0, 19));
  const [list, names] = await Promise.all([
    api(`/v1/notifications?${query}`).then((r) => r.notifications), hostNames()]);
  const dataAt = performance.now();
  const chosenHost = params.get("source_host_uuid") ?? "";
  const hostOptions = [...names].sort((a, b) => a[1].localeCompare(b[1]));
  if (chosenHost && !names.has(chosenHost)) hostOptions.push([chosenHost, shortId(chosenHost)]);
  const filters = filterForm("notifications",
  h("label", {}, "Type ", h("select", { name: "type" }, ["", "COMPUTE_HOST", "VM", "PROCESS"]
    .map((t) => h("option", { value: t, selected: t === (params.get("type") ?? "") },
      t ? typeLabel(t) : "any")))),
  h("label", {}, "Status ", h("select", { name: "status" },
    ["", ...STATUSES].map((t) => h("option", { value: t, selected: t === (params.get("status") ?? "") },
      t || "any")))),
  h("label", {}, "Host ", h("select", { name: "source_host_uuid" },
    h("option", { value: "" }, "any"),
    hostOptions.map(([uuid, name]) => h("option", { value: uuid, selected: uuid === chosenHost }, name)))),
  h("label", {}, "Since ", h("input", { name: "generated-since", type: "datetime-local", step: 1,
    value: params.get("generated-since") ?? "" })),
  h("label", {}, "Order ", h("select", { name: "order" }, ORDERS.map(([label]) =>
    h("option", { value: label, selected: label === order[0] }, label)))),
  h("button", { type: "submit" }, "Filter"));
  const rows = list.map((n) => h("tr", {},
    h("td", {}, h("a", { href: `#/notifications/${encodeURIComponent(n.notification_uuid)}` },
      shortId(n.notification_uuid))),
    h("td", {}, typeLabel(n.type)),
    h("td", {}, tag(n.status, notificationTone(n.status))),
    h("td", { title: n.source_host_uuid },
      names.has(n.source_host_uuid) ? names.get(n.source_host_uuid) : idCell(n.source_host_uuid)),
    h("td", {}, time(n.generated_time)),
    h("td", {}, time(n.created_at)),
    isAdmin() ? h("td", {}, notificationActions(n)) : null));
  const next = new URLSearchParams(params);
  if (list.length) next.set("marker", list[list.length - 1].notification_uuid);
  const first = new URLSearchParams(params);
  first.delete("marker");
  const create = isAdmin() ? apiForm("Create notification", [
    { name: "type", label: "Type", options: ["COMPUTE_HOST", "VM", "PROCESS"] },
    { name: "hostname", label: "Host name", required: true },
    { name: "payload", label: "Payload (JSON)", multiline: true, value: PAYLOADS.COMPUTE_HOST },
  ], "Create", async (v) => {
    let payload;
    try {
      payload = JSON.parse(v.payload);
    } catch {
      throw new Error("The payload is not JSON.");
    }
    const n = (await api("/v1/notifications", { method: "POST", body: { notification: {
      type: v.type, hostname: v.hostname, payload,
      generated_time: new Date().toISOString().slice(0, 19) } } })).notification;
    location.hash = `#/notifications/${encodeURIComponent(n.notification_uuid)}`;
  }, "Creating a notification starts a real recovery: a host notification fences that host " +
     "and evacuates its instances.") : null;
  if (create) {
    // The payload's template follows the type while it is still a template.
    create.inputs.type.addEventListener("change", () => {
      const p = create.inputs.payload;
      if (Object.values(PAYLOADS).includes(p.value)) p.value = PAYLOADS[create.inputs.type.value];
    });
  }
  show(h("h1", {}, "Notifications"), filters,
    h("table", {},
      h("thead", {}, h("tr", {}, ["Notification", "Type", "Status", "Host", "Generated", "Created",
        isAdmin() ? "" : null].filter((c) => c !== null)
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows)),
    list.length ? null : h("p", { class: "muted" }, "No notifications."),
    h("p", {}, params.get("marker") ? h("a", { href: `#/notifications?${first}` }, "First page") : null,
      " ", list.length === 50 ? h("a", { href: `#/notifications?${next}` }, "Next page") : null),
    create);
  drawnSince(dataAt);
}

// Rows drawn before the first frame; the rest follow in chunks of as many, a frame apart, so
// a thousand moves never hold the page for one long task.
const FIRST_ROWS = 100;

// The VM evacuations table of a notification (the seed's columns, plus the duration), or with
// `consolidated` the VM Moves page's (instance and notification ids, "-" for what is not there).
function movesTable(moves, { consolidated = false, first = FIRST_ROWS } = {}) {
  const columns = consolidated
    ? ["VM Name", "Instance ID", "Notification", "Source Host", "Destination Host", "Type",
       "Status", "Start Time", "End Time", "Message"]
    : ["VM Name", "Source Host", "Destination Host", "Type", "Status", "Start Time", "End Time",
       "Duration", "Message"];
  const row = (m) => {
    const failed = m.status === "failed";
    const ended = failed || m.status === "succeeded" || m.status === "ignored";
    const cells = [
      h("td", { title: m.instance_uuid }, nameOr(m.instance_name, m.instance_uuid)),
      consolidated ? h("td", {}, idCell(m.instance_uuid)) : null,
      consolidated ? h("td", {}, h("a", { href: `#/notifications/${encodeURIComponent(m.notification_uuid)}` },
        shortId(m.notification_uuid)), copyButton(m.notification_uuid)) : null,
      h("td", {}, m.source_host ?? ""),
      h("td", {}, m.dest_host || (consolidated || ended ? "-" : "Pending")),
      h("td", {}, m.type ?? ""),
      h("td", {}, moveTag(m.status)),
      h("td", {}, time(m.start_time) || (consolidated ? "-" : "")),
      h("td", {}, time(m.end_time) || (consolidated ? "-" : "")),
      consolidated ? null : h("td", {}, duration(m.start_time, m.end_time)),
      h("td", { class: failed ? "error" : "" }, m.message ?? ""),
    ].filter(Boolean);
    cells.forEach((td, i) => { td.dataset.label = columns[i]; });
    return h("tr", {}, cells);
  };
  const sorted = sortMoves(moves);
  const tbody = h("tbody", {}, sorted.slice(0, first).map(row));
  const table = h("table", { class: consolidated ? "moves consolidated" : "moves",
    "data-rows": sorted.length },
  h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))), tbody);
  const more = (from) => {
    if (from >= sorted.length) {
      table.dataset.complete = "";
      return;
    }
    requestAnimationFrame(() => setTimeout(() => {
      if (!tbody.isConnected) return;  // the page was redrawn or left
      tbody.append(...sorted.slice(from, from + FIRST_ROWS).map(row));
      more(from + FIRST_ROWS);
    }, 0));
  };
  more(first);
  return table;
}

// How many rows of the moves table on the page reach into the window (and a few more): a
// redraw draws those at once, so that the scroll it restores is not cut short.
function rowsInView() {
  const rows = main.querySelector("table.moves")?.tBodies[0]?.rows;
  if (!rows) return FIRST_ROWS;
  const bottom = window.innerHeight;
  let n = 0;
  while (n < rows.length && rows[n].getBoundingClientRect().top < bottom) n++;
  return Math.max(FIRST_ROWS, n + 20);
}

// The seed's circular progress indicator: the ring fills with the moves that ended, succeeded
// in green, failed in red, ignored in their colour; the share that ended inside.
function ring(p) {
  const r = 15.9155;  // a circumference of 100
  const parts = [];
  let at = 0;
  for (const [count, tone] of [[p.succeeded, "succeeded"], [p.failed, "failed"], [p.ignored, "ignored"]]) {
    if (!count || !p.total) continue;
    const len = (100 * count) / p.total;
    parts.push(svg("circle", { class: `ring-fill tone-${tone}`, cx: 18, cy: 18, r,
      "stroke-dasharray": `${len} ${100 - len}`, "stroke-dashoffset": 25 - at }));
    at += len;
  }
  return svg("svg", { class: "ring", viewBox: "0 0 36 36", role: "img",
    "aria-label": `${p.percent}% of the moves ended` },
  svg("circle", { class: "ring-track", cx: 18, cy: 18, r }), ...parts,
  svg("text", { x: 18, y: 20.5, "text-anchor": "middle", class: "ring-text" }, `${p.percent}%`));
}

// One bar per started move on a common time axis, so a slow or retried one stands out. SVG
// attributes, not inline styles: the CSP allows no style attribute.
function timeline(moves) {
  const bars = timelineOf(moves);
  if (bars.length < 2) return null;
  const row = 10;
  const chart = svg("svg", { class: "timeline", viewBox: `0 0 1000 ${bars.length * row}`,
    preserveAspectRatio: "none", role: "img", "aria-label": "VM moves over time" },
  ...bars.map((b, i) => {
    const [label, tone] = moveStatus(b.move.status);
    return svg("rect", { class: `bar tone-${tone}`, x: b.x * 1000, y: i * row + 1,
      width: b.width * 1000, height: row - 2 },
    svg("title", {}, `${nameOr(b.move.instance_name, b.move.instance_uuid)}: ${label}, ` +
      `${duration(b.move.start_time, b.move.end_time) || "running"}`));
  }));
  return h("section", { class: "timeline-box" }, h("h2", {}, "Timeline"), chart);
}

// The workflow's steps (recovery_workflow_details) in order: state, last word, and every
// message behind a disclosure.
function steps(details) {
  if (!details.length) return null;
  return h("section", { class: "steps" }, h("h2", {}, "Workflow"),
    h("ol", {}, details.map((d) => {
      const [label, tone] = stepState(d.state);
      const log = d.progress_details ?? [];
      const last = log[log.length - 1];
      return h("li", {},
        h("span", { class: "step-name" }, d.name ?? ""), " ", tag(label, tone), " ",
        last ? time(last.timestamp) : "", " ",
        last ? h("span", { class: tone === "failed" ? "error" : "" }, last.message ?? "") : "",
        log.length > 1 ? h("details", {}, h("summary", {}, `${log.length} messages`),
          h("ul", {}, log.map((e) => h("li", {}, time(e.timestamp), " ", e.message ?? "")))) : null);
    })));
}

// A notification's fields, payload and workflow (the Overview tab).
function notificationFields(n, names) {
  const rows = [
    ["Notification", idCell(n.notification_uuid)],
    ["Type", typeLabel(n.type)],
    ["Status", tag(n.status, notificationTone(n.status))],
    ["Host", [names.get(n.source_host_uuid) ?? "", " ", idCell(n.source_host_uuid)]],
    ["Segment", idCell(n.failover_segment_uuid)],
    ["Generated", time(n.generated_time)],
    ["Created", time(n.created_at)],
    ["Updated", time(n.updated_at)],
    ["Message", n.message ?? ""],
  ];
  return h("section", { class: "card fields" },
    h("dl", {}, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    h("h2", {}, "Payload"),
    h("pre", { class: "payload" }, JSON.stringify(n.payload ?? {}, null, 2)));
}

// The detail page: the Overview tab (fields, payload, workflow) and the Recovery Progress tab
// (summary, timeline, moves). While the notification runs, the page refreshes every 5 s in
// place, keeping the tab and the scroll; it stops by itself once the notification ends.
async function notificationDetail(id, params) {
  const base = `/v1/notifications/${encodeURIComponent(id)}`;
  const names = await hostNames();
  const tab0 = params.get("tab");
  let last = "";
  let n = null;  // the notification as last read
  let moves = [];
  // Each refresh is one request: the Recovery Progress tab reads the moves, whose summary
  // carries the notification's status; the Overview tab reads the notification.
  const draw = async () => {
    if (n === null) {
      n = (await api(base)).notification;
      if (n.type === "COMPUTE_HOST" && tab0 !== "overview") moves = (await api(`${base}/vmoves?limit=1000`)).vmoves;
    } else if (n.type === "COMPUTE_HOST" && (tab0 ?? "progress") === "progress") {
      const r = await api(`${base}/vmoves?limit=1000`);
      moves = r.vmoves;
      const status = r.summary.notification_status;
      // An end is read whole (its message, its time), once.
      n = status === n.status || status === "new" || status === "running"
        ? { ...n, status } : (await api(base)).notification;
    } else {
      n = (await api(base)).notification;
    }
    const isHost = n.type === "COMPUTE_HOST";
    const dataAt = performance.now();
    const running = n.status === "new" || n.status === "running";
    const again = () => {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(() => draw().catch(showError), 5000);
    };
    // Nothing changed: the page stays as it is. Text the viewer is selecting is not pulled
    // away: the redraw waits for the next turn.
    const seen = JSON.stringify([n, moves]);
    const selecting = !document.getSelection()?.isCollapsed &&
      main.contains(document.getSelection()?.anchorNode ?? null);
    if (seen === last || (last && selecting)) {
      if (running || selecting) again();
      return;
    }
    last = seen;
    const tab = params.get("tab") ?? (isHost ? "progress" : "overview");
    const p = progressOf(moves);
    const scroll = window.scrollY;
    const tabLink = (key, label) => h("a", { role: "tab", href: `#/notifications/${encodeURIComponent(id)}?tab=${key}`,
      "aria-selected": tab === key ? "true" : "false", class: tab === key ? "tab current" : "tab" }, label);
    const actions = isAdmin() ? notificationActions(n) : [];
    const body = tab === "progress" ? [
      h("section", { class: "card summary" },
        ring(p),
        h("div", {}, h("div", { class: "muted" }, "Notification Status"),
          tag(n.status, notificationTone(n.status))),
        h("div", { class: "counts" },
          h("span", {}, h("span", { class: "muted" }, "Total VMs "), h("strong", {}, String(p.total))),
          h("span", { class: "tone-succeeded-text" }, "Succeeded ", h("strong", {}, String(p.succeeded))),
          p.failed ? h("span", { class: "tone-failed-text" }, "Failed ", h("strong", {}, String(p.failed))) : null,
          p.running ? h("span", { class: "tone-running-text" }, "Running ", h("strong", {}, String(p.running))) : null,
          p.pending ? h("span", { class: "muted" }, "Pending ", h("strong", {}, String(p.pending))) : null),
        running ? h("p", { class: "muted", id: "refreshing" }, h("span", { class: "spinner" }), " Auto-refreshing every 5s") : null,
        actions),
      timeline(moves),
      h("h2", {}, "VM Evacuations"),
      moves.length ? movesTable(moves, { first: rowsInView() })
        : h("p", { class: "muted" }, isHost ? "No VM moves yet." : "No VM moves."),
    ] : [
      h("div", { class: "actions" }, actions),
      notificationFields(n, names),
      steps(n.recovery_workflow_details ?? []),
    ];
    show(h("h1", {}, "Notification ", idCell(n.notification_uuid)),
      h("nav", { class: "tabs", role: "tablist", "aria-label": "Notification" },
        tabLink("overview", "Overview"), tabLink("progress", "Recovery Progress")),
      h("div", { role: "tabpanel" }, body));
    window.scrollTo(0, scroll);
    drawnSince(dataAt);
    if (running) again();
  };
  await draw();
}

async function vmoves(params) {
  const query = new URLSearchParams({ notifications: "50", limit: "1000" });
  for (const k of ["status", "source_host", "dest_host"]) {
    if (params.get(k)) query.set(k, params.get(k));
  }
  const moves = (await api(`/v1/vmoves?${query}`)).vmoves;
  const dataAt = performance.now();
  const filters = filterForm("vmoves",
  h("label", {}, "Status ", h("select", { name: "status" },
    ["", "pending", "ongoing", "succeeded", "failed", "ignored"].map((t) => h("option",
      { value: t, selected: t === (params.get("status") ?? "") }, t ? moveStatus(t)[0] : "any")))),
  h("label", {}, "Source host ", h("input", { name: "source_host", size: 12,
    value: params.get("source_host") ?? "" })),
  h("label", {}, "Destination host ", h("input", { name: "dest_host", size: 12,
    value: params.get("dest_host") ?? "" })),
  h("button", { type: "submit" }, "Filter"),
  h("button", { type: "button", onclick: () => route() }, "Refresh"));
  show(h("h1", {}, "VM Moves"),
    h("p", { class: "muted" }, "The moves of the last 50 host notifications, newest start first. Read-only."),
    filters,
    moves.length ? movesTable(moves, { consolidated: true }) : h("p", { class: "muted" }, "No VM moves."));
  drawnSince(dataAt);
}

async function segments() {
  const list = (await api("/v1/segments?limit=1000")).segments;
  const hostLists = await Promise.all(list.map((s) =>
    api(`/v1/segments/${encodeURIComponent(s.uuid)}/hosts?limit=1000`)));
  const dataAt = performance.now();
  const cards = [];
  for (const [i, s] of list.entries()) {
    const segPath = `/v1/segments/${encodeURIComponent(s.uuid)}`;
    const hosts = hostLists[i].hosts;
    cards.push(h("section", { class: "card segment" },
      h("h2", {}, s.name),
      h("p", { class: "muted" }, `${s.recovery_method} · ${s.service_type} · `,
        s.enabled === false ? "disabled" : "enabled", " · ", idCell(s.uuid)),
      s.description ? h("p", {}, s.description) : null,
      h("table", {},
        h("thead", {}, h("tr", {}, ["Host", "Type", "Reserved", "On maintenance", ""]
          .map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, hosts.map((x) => {
          const hostPath = `${segPath}/hosts/${encodeURIComponent(x.uuid)}`;
          const put = (host) => api(hostPath, { method: "PUT", body: { host } });
          return h("tr", {},
            h("td", {}, x.name), h("td", {}, x.type),
            h("td", {}, x.reserved ? "yes" : "no"), h("td", {}, x.on_maintenance ? "yes" : "no"),
            h("td", {}, isAdmin() ? [
              actionButton(x.on_maintenance ? "End maintenance" : "Maintenance",
                () => put({ on_maintenance: !x.on_maintenance })),
              actionButton(x.reserved ? "Unreserve" : "Reserve", () => put({ reserved: !x.reserved })),
              actionButton("Unfence", () => api(`${hostPath}/action`,
                { method: "POST", body: { unfence: null } })),
              actionButton("Delete host", () => api(hostPath, { method: "DELETE" }), { danger: true }),
            ] : null));
        }))),
      isAdmin() ? h("details", {}, h("summary", {}, "Add a host"), apiForm(`Add a host to ${s.name}`, [
        { name: "name", label: "Name", required: true },
        { name: "type", label: "Type", value: "COMPUTE" },
        { name: "control_attributes", label: "Control attributes", value: "SSH" },
      ], "Add host", (v) => api(`${segPath}/hosts`, { method: "POST", body: { host: v } }))) : null,
      isAdmin() ? h("details", {}, h("summary", {}, "Edit segment"), apiForm(`Edit ${s.name}`, [
        { name: "name", label: "Name", value: s.name, required: true },
        { name: "recovery_method", label: "Recovery method", value: s.recovery_method,
          options: ["auto", "reserved_host", "auto_priority", "rh_priority"] },
        { name: "description", label: "Description", value: s.description ?? "" },
        { name: "enabled", label: "Enabled", value: s.enabled === false ? "false" : "true",
          options: ["true", "false"] },
      ], "Save", (v) => {
        // Only what changed: an unchanged name is not renamed (nor refused as taken).
        const segment = {};
        if (v.name !== s.name) segment.name = v.name;
        if (v.recovery_method !== s.recovery_method) segment.recovery_method = v.recovery_method;
        if (v.description !== (s.description ?? "")) segment.description = v.description;
        if ((v.enabled === "true") !== (s.enabled !== false)) segment.enabled = v.enabled === "true";
        if (!Object.keys(segment).length) throw new Error("Nothing changed.");
        return api(segPath, { method: "PUT", body: { segment } });
      })) : null,
      isAdmin() ? actionButton("Delete segment", () => api(segPath, { method: "DELETE" }),
        { danger: true }) : null));
  }
  show(h("h1", {}, "Segments"),
    cards.length ? h("div", { class: "stack" }, cards) : h("p", { class: "muted" }, "No segments yet."),
    isAdmin() ? apiForm("Create segment", [
      { name: "name", label: "Name", required: true },
      { name: "recovery_method", label: "Recovery method",
        options: ["auto", "reserved_host", "auto_priority", "rh_priority"] },
      { name: "service_type", label: "Service type", value: "COMPUTE" },
      { name: "description", label: "Description" },
    ], "Create", (v) => {
      const segment = { ...v };
      if (!segment.description) delete segment.description;
      return api("/v1/segments", { method: "POST", body: { segment } });
    }) : null);
  drawnSince(dataAt);
}

// --- routing ---------------------------------------------------------------------------------

async function route() {
  clearTimeout(refreshTimer);
  newNavigation();
  updateWho();
  const [path, search = ""] = (location.hash.replace(/^#/, "") || "/").split("?");
  const params = new URLSearchParams(search);
  const [, page = "", id] = path.split("/");
  for (const a of document.querySelectorAll("#nav a")) {
    a.toggleAttribute("aria-current", a.dataset.page === (page || "overview"));
  }
  try {
    if (me === null) {
      me = await api("/whoami");
      updateWho();
    }
    if (page === "") await overview();
    else if (page === "notifications" && id) await notificationDetail(decodeURIComponent(id), params);
    else if (page === "notifications") await notifications(params);
    else if (page === "vmoves") await vmoves(params);
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
