// node --test web/dashboard/ (run by `make test` as the `dashboard_logic` test).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  duration, endedPercent, formatTime, freeShare, headroomSummary, hostState, localInputValue,
  moveStatus, nameOr,
  notificationTone, parseApiTime, progressOf, recoveryTimings, shortId, sortMoves, stepState,
  timelineOf, typeLabel,
} from "./format.js";

test("types carry the seed's names", () => {
  assert.equal(typeLabel("VM"), "COMPUTE_INSTANCE");
  assert.equal(typeLabel("PROCESS"), "COMPUTE_PROCESS");
  assert.equal(typeLabel("COMPUTE_HOST"), "COMPUTE_HOST");
  assert.equal(typeLabel("SOMETHING_NEW"), "SOMETHING_NEW");
  assert.equal(typeLabel(undefined), "");
});

test("statuses map to the seed's tones and labels", () => {
  assert.equal(notificationTone("running"), "running");
  assert.equal(notificationTone("finished"), "succeeded");
  assert.equal(notificationTone("error"), "failed");
  assert.equal(notificationTone("failed"), "failed");
  assert.equal(notificationTone("ignored"), "ignored");
  assert.deepEqual(moveStatus("ongoing"), ["Running", "running"]);
  assert.deepEqual(moveStatus("pending"), ["Pending", "pending"]);
  assert.deepEqual(moveStatus("ignored"), ["Ignored", "ignored"]);
  assert.deepEqual(moveStatus("weird"), ["weird", "pending"]);
});

test("progress counts every move once and ends at 100 %", () => {
  const p = progressOf([
    { status: "succeeded" }, { status: "failed" }, { status: "ongoing" }, { status: "pending" },
  ]);
  assert.deepEqual(
    { ...p },
    { total: 4, succeeded: 1, failed: 1, running: 1, pending: 1, ignored: 0, percent: 50 });
  assert.equal(progressOf([]).percent, 0);
  assert.equal(progressOf([{ status: "succeeded" }, { status: "ignored" }]).percent, 100);
});

test("names fall back to short ids, never to a blank", () => {
  assert.equal(shortId("0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"), "0b1c2d3e");
  assert.equal(shortId("abc"), "abc");
  assert.equal(shortId(null), "");
  assert.equal(nameOr("vm-001", "0b1c2d3e-4f50"), "vm-001");
  assert.equal(nameOr("  ", "0b1c2d3e-4f50"), "0b1c2d3e");
  assert.equal(nameOr(undefined, "0b1c2d3e-4f50"), "0b1c2d3e");
  // Markup is data, not markup: returned as it is, for textContent.
  assert.equal(nameOr("<img src=x onerror=alert(1)>", "x"), "<img src=x onerror=alert(1)>");
});

test("API times are naive UTC, shown in the viewer's zone with UTC on hover", () => {
  assert.equal(parseApiTime("2026-12-07T20:16:00.123456").toISOString(), "2026-12-07T20:16:00.123Z");
  assert.equal(parseApiTime("2026-12-07T20:16:00Z").toISOString(), "2026-12-07T20:16:00.000Z");
  assert.equal(parseApiTime("not a time"), null);
  // Masakari's workflow detail timestamps: a space instead of the "T".
  assert.equal(parseApiTime("2026-12-07 20:16:00.500000").toISOString(), "2026-12-07T20:16:00.500Z");
  assert.equal(parseApiTime(null), null);
  const [shown, title] = formatTime("2026-12-07T20:16:05.000000", "Asia/Tokyo");
  assert.equal(shown, "08/12/2026, 05:16:05");
  assert.equal(title, "2026-12-07T20:16:05Z (UTC)");
  assert.deepEqual(formatTime("", "UTC"), ["", ""]);
});

test("durations read as seconds, minutes or hours", () => {
  assert.equal(duration("2026-12-07T20:00:00", "2026-12-07T20:00:01.900"), "1.9s");
  assert.equal(duration("2026-12-07T20:00:00", "2026-12-07T20:02:05"), "2m 05s");
  assert.equal(duration("2026-12-07T20:00:00", "2026-12-07T21:02:00"), "1h 02m");
  assert.equal(duration("2026-12-07T20:00:00", null), "");
});

test("moves sort newest start first, unstarted last", () => {
  const sorted = sortMoves([
    { instance_name: "b", start_time: null },
    { instance_name: "old", start_time: "2026-12-07T20:00:00" },
    { instance_name: "new", start_time: "2026-12-07T20:05:00" },
    { instance_name: "a", start_time: null },
  ]);
  assert.deepEqual(sorted.map((m) => m.instance_name), ["new", "old", "a", "b"]);
});

test("workflow steps read as the seed's states", () => {
  assert.deepEqual(stepState("SUCCESS"), ["Succeeded", "succeeded"]);
  assert.deepEqual(stepState("RUNNING"), ["Running", "running"]);
  assert.deepEqual(stepState("FAILURE"), ["Failed", "failed"]);
  assert.deepEqual(stepState("PENDING"), ["Pending", "pending"]);
  assert.deepEqual(stepState(undefined), ["Unknown", "pending"]);
});

test("the timeline puts every started move on one axis, the slow one longest", () => {
  const bars = timelineOf([
    { instance_name: "a", start_time: "2026-12-07T20:00:00", end_time: "2026-12-07T20:00:10" },
    { instance_name: "slow", start_time: "2026-12-07T20:00:00", end_time: "2026-12-07T20:00:40" },
    { instance_name: "late", start_time: "2026-12-07T20:00:20", end_time: null },
    { instance_name: "waiting", start_time: null, end_time: null },
  ], Date.parse("2026-12-07T20:00:30Z"));
  assert.deepEqual(bars.map((b) => b.move.instance_name), ["a", "slow", "late"]);
  assert.deepEqual(bars.map((b) => [b.x, b.width]), [[0, 0.25], [0, 1], [0.5, 0.25]]);
  assert.deepEqual(timelineOf([]), []);
});

test("host states read as words with the seed's tones", () => {
  assert.deepEqual(hostState("fenced"), ["fenced", "failed"]);
  assert.deepEqual(hostState("in_recovery"), ["in recovery", "running"]);
  assert.deepEqual(hostState("maintenance"), ["on maintenance", "ignored"]);
  assert.deepEqual(hostState("up"), ["up", "succeeded"]);
  assert.deepEqual(hostState("later"), ["later", "pending"]);
});

test("the N+1 verdict names the short hosts and low headroom", () => {
  const host = (name, ok, extra = {}) => ({ name, ok, checked: true, instances: 6, placed: ok ? 6 : 4,
    ha_instances: 3, ha_placed: 3, shortfall: ok ? "" : "instance vm5 (u5): no capacity", ...extra });
  const fine = headroomSummary({ capacity_known: true, vcpus: { total: 48, free: 24 },
    ram_mb: { total: 1000, free: 500 }, hosts: [host("a", true), host("b", true)] });
  assert.equal(fine.label, "N+1 ok");
  assert.equal(fine.tone, "succeeded");
  assert.match(fine.text, /50 % of vCPUs, 50 % of RAM/);
  assert.deepEqual(fine.short, []);

  const tight = headroomSummary({ capacity_known: true, vcpus: { total: 100, free: 10 },
    ram_mb: { total: 100, free: 50 }, hosts: [host("a", true)] });
  assert.equal(tight.label, "N+1 ok, tight");
  assert.match(tight.text, /Below the 20-30 %/);

  const short = headroomSummary({ capacity_known: true, vcpus: { total: 48, free: 4 },
    ram_mb: { total: 1000, free: 100 },
    hosts: [host("a", false), host("b", true), host("c", false, { checked: false, shortfall: "cannot list" })] });
  assert.equal(short.label, "N+1 short");
  assert.equal(short.tone, "failed");
  assert.match(short.text, /^2 of 3 hosts/);
  assert.equal(short.short[0], "a: 4 of 6 would fit (HA 3 of 3). instance vm5 (u5): no capacity");
  assert.equal(short.short[1], "c: not checked: cannot list");

  const unknown = headroomSummary({ capacity_known: false, capacity_error: "no placement", hosts: [] });
  assert.equal(unknown.tone, "pending");
  assert.match(unknown.text, /no placement/);
  assert.equal(freeShare({ total: 0, free: 0 }), null);
});

test("recovery timings chain generated, reported, first move and last recovery", () => {
  const t = recoveryTimings({ generated_time: "2026-12-07T10:00:00.000000",
    created_at: "2026-12-07T10:00:02.500000", first_move_started_at: "2026-12-07T10:00:12.500000",
    last_recovered_at: "2026-12-07T10:02:12.500000" });
  assert.deepEqual(t, { reported: "2.5s", firstMove: "10.0s", lastRecovered: "2m 00s",
    total: "2m 13s" });
  assert.equal(recoveryTimings({ generated_time: "2026-12-07T10:00:00", created_at: null }).reported, "");
  assert.equal(endedPercent({ total: 4, succeeded: 2, failed: 1, ignored: 0 }), 75);
  assert.equal(endedPercent({ total: 0 }), 0);
});

test("a time for the Since filter is the same instant in the viewer's zone", () => {
  const v = localInputValue("2026-12-06T23:00:05.123456");
  assert.match(v, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
  // A datetime-local value is read as local time: it must come back as the same instant.
  assert.equal(new Date(v).getTime(), Date.UTC(2026, 11, 6, 23, 0, 5));
  assert.equal(localInputValue("nonsense"), "");
});
