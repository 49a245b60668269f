// The dashboard: a page per hash route (#/, #/notifications, #/notifications/ID, #/vmoves,
// #/segments), drawn with DOM calls only — every string from the API goes in as text, never as
// markup. Later pages (silences, healers, conditions, agents) add a route and a nav link.
import { api, ApiError, isAbort, newNavigation, setToken, token } from "./api.js";
import {
  duration, formatTime, moveStatus, nameOr, notificationTone, progressOf, shortId, sortMoves,
  stepState, timelineOf, typeLabel,
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
  if (isAbort(e)) return;  // a navigation replaced this page
  // A refused or expired token goes back to the sign-in with the reason (none on a first
  // visit, when there was no token to refuse).
  if (e instanceof ApiError && e.status === 401) return signIn(token() ? e.message : "");
  show(h("p", { class: "error", role: "alert" }, e.message ?? String(e)));
}

// --- sign-in ---------------------------------------------------------------------------------

function signIn(reason) {
  clearTimeout(refreshTimer);
  newNavigation();
  setToken("");
  me = null;
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

// A form whose submit calls `run(fields)`; the API's refusal shows in the form.
function apiForm(title, fields, submitLabel, run, note) {
  const error = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit" }, submitLabel);
  const inputs = {};
  const rows = fields.map((f) => {
    let input;
    if (f.options) {
      input = h("select", { id: `f-${f.name}`, name: f.name },
        f.options.map((o) => h("option", { value: o, selected: o === f.value }, o)));
    } else if (f.multiline) {
      input = h("textarea", { id: `f-${f.name}`, name: f.name, rows: 3 }, f.value ?? "");
    } else {
      input = h("input", { id: `f-${f.name}`, name: f.name, value: f.value ?? "",
                           required: f.required, placeholder: f.placeholder ?? "" });
    }
    inputs[f.name] = input;
    return h("div", { class: "field" }, h("label", { for: `f-${f.name}` }, f.label), input);
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

// Host UUID → name, from every segment's hosts (one request per segment, at once).
async function hostNames() {
  const segments = (await api("/v1/segments?limit=1000")).segments;
  const lists = await Promise.all(segments.map((s) =>
    api(`/v1/segments/${encodeURIComponent(s.uuid)}/hosts?limit=1000`)));
  const names = new Map();
  for (const l of lists) for (const x of l.hosts) names.set(x.uuid, x.name);
  return names;
}

const PAYLOADS = {
  COMPUTE_HOST: '{"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}',
  VM: '{"event": "LIFECYCLE", "instance_uuid": "", "vir_domain_event": "STOPPED_FAILED"}',
  PROCESS: '{"event": "STOPPED", "process_name": "nova-compute"}',
};

async function notifications(params) {
  const query = new URLSearchParams({ limit: "50", sort_key: "created_at", sort_dir: "desc" });
  for (const k of ["type", "status", "source_host_uuid", "marker"]) {
    if (params.get(k)) query.set(k, params.get(k));
  }
  // The form's "since" is the viewer's local time; the API reads naive UTC.
  const since = new Date(params.get("generated-since") ?? "");
  if (!Number.isNaN(since.getTime())) query.set("generated-since", since.toISOString().slice(0, 19));
  const [list, names] = await Promise.all([
    api(`/v1/notifications?${query}`).then((r) => r.notifications), hostNames()]);
  const filters = filterForm("notifications",
  h("label", {}, "Type ", h("select", { name: "type" }, ["", "COMPUTE_HOST", "VM", "PROCESS"]
    .map((t) => h("option", { value: t, selected: t === (params.get("type") ?? "") },
      t ? typeLabel(t) : "any")))),
  h("label", {}, "Status ", h("select", { name: "status" },
    ["", "new", "running", "finished", "error", "failed", "ignored"]
      .map((t) => h("option", { value: t, selected: t === (params.get("status") ?? "") }, t || "any")))),
  h("label", {}, "Host UUID ", h("input", { name: "source_host_uuid", size: 12,
    value: params.get("source_host_uuid") ?? "" })),
  h("label", {}, "Since ", h("input", { name: "generated-since", type: "datetime-local", step: 1,
    value: params.get("generated-since") ?? "" })),
  h("button", { type: "submit" }, "Filter"));
  const rows = list.map((n) => h("tr", {},
    h("td", {}, h("a", { href: `#/notifications/${encodeURIComponent(n.notification_uuid)}` },
      shortId(n.notification_uuid))),
    h("td", {}, typeLabel(n.type)),
    h("td", {}, tag(n.status, notificationTone(n.status))),
    h("td", { title: n.source_host_uuid },
      names.has(n.source_host_uuid) ? names.get(n.source_host_uuid) : idCell(n.source_host_uuid)),
    h("td", {}, time(n.generated_time)),
    h("td", {}, time(n.created_at))));
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
      h("thead", {}, h("tr", {}, ["Notification", "Type", "Status", "Host", "Generated", "Created"]
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows)),
    list.length ? null : h("p", { class: "muted" }, "No notifications."),
    h("p", {}, params.get("marker") ? h("a", { href: `#/notifications?${first}` }, "First page") : null,
      " ", list.length === 50 ? h("a", { href: `#/notifications?${next}` }, "Next page") : null),
    create);
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

// One bar per started move on a common time axis, so a slow or retried one stands out. SVG
// attributes, not inline styles: the CSP allows no style attribute.
function timeline(moves) {
  const bars = timelineOf(moves);
  if (bars.length < 2) return null;
  const ns = "http://www.w3.org/2000/svg";
  const svg = (tag, attrs, ...kids) => {
    const el = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    for (const k of kids) el.append(k instanceof Node ? k : document.createTextNode(String(k)));
    return el;
  };
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
        running ? h("p", { class: "muted", id: "refreshing" }, "Auto-refreshing every 5s") : null,
        isAdmin() && (n.status === "error" || n.status === "failed")
          ? actionButton("Retry", () => api(`/v1/notifications/${encodeURIComponent(id)}/action`,
              { method: "POST", body: { retry: null } })) : null,
        isAdmin() && (n.status === "new" || n.status === "running" || n.status === "error")
          ? actionButton("Cancel", () => api(`/v1/notifications/${encodeURIComponent(id)}/action`,
              { method: "POST", body: { cancel: null } }), { danger: true }) : null),
      steps(n.recovery_workflow_details ?? []),
      timeline(moves),
      moves.length ? movesTable(moves) : h("p", { class: "muted" }, "No VM moves."));
    window.scrollTo(0, scroll);
    if (running) {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(() => draw().catch(showError), 5000);
    }
  };
  await draw();
}

async function vmoves(params) {
  const query = new URLSearchParams({ notifications: "50", limit: "1000" });
  for (const k of ["status", "source_host", "dest_host"]) {
    if (params.get(k)) query.set(k, params.get(k));
  }
  const moves = (await api(`/v1/vmoves?${query}`)).vmoves;
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
  show(h("h1", {}, "VM Moves"), filters,
    moves.length ? movesTable(moves) : h("p", { class: "muted" }, "No VM moves."));
}

async function segments() {
  const list = (await api("/v1/segments?limit=1000")).segments;
  const cards = [];
  for (const s of list) {
    const segPath = `/v1/segments/${encodeURIComponent(s.uuid)}`;
    const hosts = (await api(`${segPath}/hosts?limit=1000`)).hosts;
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
    else if (page === "notifications" && id) await notificationDetail(decodeURIComponent(id));
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
