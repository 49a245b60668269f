// What the dashboard shows, without the DOM: labels, styles, progress, names, times. Tested
// with `node --test web/dashboard/` (format.test.mjs).

// The seed's names for Masakari's notification types.
const TYPE_LABELS = { VM: "COMPUTE_INSTANCE", PROCESS: "COMPUTE_PROCESS", COMPUTE_HOST: "COMPUTE_HOST" };

export function typeLabel(type) {
  return TYPE_LABELS[type] ?? String(type ?? "");
}

// A notification's status → the style of its tag (the seed's colours: grey new, blue running,
// green finished, red error/failed, muted ignored).
export function notificationTone(status) {
  switch (status) {
    case "new": return "pending";
    case "running": return "running";
    case "finished": return "succeeded";
    case "error": case "failed": return "failed";
    case "ignored": return "ignored";
    default: return "pending";
  }
}

// A VM move's status → [label, tone]: Masakari's `ongoing` is Running; `ignored` keeps its
// own style.
export function moveStatus(status) {
  switch (status) {
    case "pending": return ["Pending", "pending"];
    case "ongoing": return ["Running", "running"];
    case "succeeded": return ["Succeeded", "succeeded"];
    case "failed": return ["Failed", "failed"];
    case "ignored": return ["Ignored", "ignored"];
    default: return [String(status ?? "Unknown"), "pending"];
  }
}

// The counts of the Recovery Progress card from a notification's moves.
export function progressOf(moves) {
  const p = { total: moves.length, succeeded: 0, failed: 0, running: 0, pending: 0, ignored: 0 };
  for (const m of moves) {
    if (m.status === "succeeded") p.succeeded++;
    else if (m.status === "failed") p.failed++;
    else if (m.status === "ongoing") p.running++;
    else if (m.status === "ignored") p.ignored++;
    else p.pending++;
  }
  const ended = p.succeeded + p.failed + p.ignored;
  p.percent = p.total === 0 ? 0 : Math.round((100 * ended) / p.total);
  return p;
}

// The first 8 characters of a UUID (the whole is copyable next to it).
export function shortId(id) {
  const s = String(id ?? "");
  return s.length > 8 ? s.slice(0, 8) : s;
}

// A name if there is one, else the (short) id: never a blank cell.
export function nameOr(name, id) {
  if (typeof name === "string" && name.trim() !== "") return name;
  return shortId(id);
}

// The API's times are naive UTC ("2026-12-07T20:16:00.000000"). Returns a Date, or null.
export function parseApiTime(text) {
  if (typeof text !== "string" || text === "") return null;
  // Workflow details use Masakari's str(utcnow()): a space, not a "T".
  const t = text.replace(/^(\d{4}-\d\d-\d\d) /, "$1T");
  const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(t) ? t : t + "Z";
  const d = new Date(iso.replace(/(\.\d{3})\d+/, "$1"));
  return Number.isNaN(d.getTime()) ? null : d;
}

// One formatter per zone: building one per call (as toLocaleString does) costs more than the
// formatting, and a page of a thousand moves formats two thousand times.
const formatters = new Map();
function formatterFor(timeZone) {
  let f = formatters.get(timeZone ?? "");
  if (!f) {
    f = new Intl.DateTimeFormat("en-GB", {
      timeZone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
    });
    formatters.set(timeZone ?? "", f);
  }
  return f;
}

// [shown, title]: the time in the viewer's zone (or `timeZone`), and UTC for the hover.
export function formatTime(text, timeZone) {
  const d = parseApiTime(text);
  if (d === null) return ["", ""];
  return [formatterFor(timeZone).format(d), d.toISOString().replace(".000Z", "Z") + " (UTC)"];
}

// "1.9s", "2m 05s", "1h 02m" between two API times; "" if either is missing.
export function duration(start, end) {
  const a = parseApiTime(start);
  const b = parseApiTime(end);
  if (a === null || b === null) return "";
  const ms = Math.max(0, b - a);
  if (ms < 60_000) return (ms / 1000).toFixed(1) + "s";
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

// Moves newest start first; moves not yet started after the started ones, by name. Each time
// is parsed once, not once per comparison.
export function sortMoves(moves) {
  const keyed = moves.map((m) => ({ m, t: parseApiTime(m.start_time)?.getTime() ?? null,
                                    name: String(m.instance_name ?? "") }));
  keyed.sort((x, y) => {
    if (x.t !== null && y.t !== null) return y.t - x.t;
    if (x.t !== null) return -1;
    if (y.t !== null) return 1;
    return x.name < y.name ? -1 : x.name > y.name ? 1 : 0;
  });
  return keyed.map((k) => k.m);
}

// A workflow step's state (recovery_workflow_details) → [label, tone].
export function stepState(state) {
  switch (state) {
    case "SUCCESS": return ["Succeeded", "succeeded"];
    case "RUNNING": return ["Running", "running"];
    case "FAILURE": case "ERROR": case "REVERTED": return ["Failed", "failed"];
    case "SKIPPED": return ["Skipped", "ignored"];
    case "PENDING": return ["Pending", "pending"];
    default: return [String(state ?? "Unknown"), "pending"];
  }
}

// The moves' bars on a common time axis: [{move, x, width}] in [0, 1] of the span from the
// first start to the last end (now for those still running); moves not started are left out.
export function timelineOf(moves, now = Date.now()) {
  const spans = [];
  for (const m of moves) {
    const a = parseApiTime(m.start_time);
    if (a === null) continue;
    const b = parseApiTime(m.end_time) ?? new Date(now);
    spans.push({ move: m, start: a.getTime(), end: Math.max(a.getTime(), b.getTime()) });
  }
  if (spans.length === 0) return [];
  const t0 = Math.min(...spans.map((s) => s.start));
  const t1 = Math.max(...spans.map((s) => s.end));
  const span = Math.max(1, t1 - t0);
  spans.sort((x, y) => x.start - y.start || x.end - y.end);
  return spans.map((s) => ({
    move: s.move, x: (s.start - t0) / span, width: Math.max((s.end - s.start) / span, 0.002),
  }));
}

// A host's state in the overview → [label, tone].
export function hostState(state) {
  switch (state) {
    case "up": return ["up", "succeeded"];
    case "reserved": return ["reserved", "pending"];
    case "maintenance": return ["on maintenance", "ignored"];
    case "fenced": return ["fenced", "failed"];
    case "in_recovery": return ["in recovery", "running"];
    default: return [String(state ?? "unknown"), "pending"];
  }
}

// A share of `{total, free}` in whole percent, or null when the total is unknown.
export function freeShare(v) {
  const total = Number(v?.total ?? 0);
  return total > 0 ? Math.round((100 * Number(v.free ?? 0)) / total) : null;
}

// The operators' guide asks for 20-30 % headroom; under 20 % is called out.
export const HEADROOM_FLOOR = 20;

// A segment's N+1 check (GET /v1/segments/{id}/headroom) → {label, tone, text, short}: the
// verdict, a sentence with the free shares, and one line per host whose instances would not
// all fit elsewhere.
export function headroomSummary(hr) {
  if (!hr.capacity_known) {
    return { label: "N+1 unknown", tone: "pending", short: [],
             text: `The cloud cannot size its hosts: ${hr.capacity_error ?? "no answer"}.` };
  }
  const cpu = freeShare(hr.vcpus);
  const ram = freeShare(hr.ram_mb);
  const free = cpu === null || ram === null ? "No host can take instances now."
    : `Free now: ${cpu} % of vCPUs, ${ram} % of RAM.`;
  const low = (cpu !== null && cpu < HEADROOM_FLOOR) || (ram !== null && ram < HEADROOM_FLOOR);
  const short = (hr.hosts ?? []).filter((x) => !x.ok).map((x) => x.checked
    ? `${x.name}: ${x.placed} of ${x.instances} would fit (HA ${x.ha_placed} of ${x.ha_instances}). ${x.shortfall}`
    : `${x.name}: not checked: ${x.shortfall}`);
  if (!(hr.hosts ?? []).length) {
    return { label: "N+1 —", tone: "pending", short, text: "No hosts in this segment." };
  }
  if (short.length) {
    return { label: "N+1 short", tone: "failed", short,
             text: `${short.length} of ${hr.hosts.length} hosts' instances would not all fit ` +
                   `on the others. ${free}` };
  }
  return { label: low ? "N+1 ok, tight" : "N+1 ok", tone: low ? "ignored" : "succeeded", short,
           text: `Every host's instances would fit on the others. ${free}` +
                 (low ? ` Below the ${HEADROOM_FLOOR}-30 % headroom the guide asks for.` : "") };
}

// A recovery's timings from the overview: each step's time from the one before it.
export function recoveryTimings(n) {
  return {
    reported: duration(n.generated_time, n.created_at),
    firstMove: duration(n.created_at, n.first_move_started_at),
    lastRecovered: duration(n.first_move_started_at, n.last_recovered_at),
    total: duration(n.generated_time, n.last_recovered_at),
  };
}

// The share of a summary's moves that ended ({total, succeeded, failed, ignored}), in percent.
export function endedPercent(s) {
  const total = Number(s?.total ?? 0);
  if (total === 0) return 0;
  return Math.round((100 * (Number(s.succeeded ?? 0) + Number(s.failed ?? 0) +
    Number(s.ignored ?? 0))) / total);
}

// An API time as a datetime-local field's value ("2026-12-07T23:00:05", the viewer's zone), as
// the notifications page's "Since" filter takes it; "" if it is not a time.
export function localInputValue(text) {
  const d = parseApiTime(text);
  if (d === null) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
