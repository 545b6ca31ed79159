// Records saved on the phone wait here until the server has them (POST sync/).
// Each gets its UUID the moment it is saved, so that any number of retries makes one row.
import { all, count, get, putInto, remove } from "./db.js";

export const SECTIONS = {
  checkin: "checkins",
  adverse_effect: "adverse_effects",
  bolus: "boluses",
  medication: "medications",
};
export const OBSERVED = {
  checkin: "recorded_at",
  adverse_effect: "recorded_at",
  bolus: "occurred_at",
  medication: "taken_at",
};

// ISO 8601 with the phone's own offset, as API.md asks (never a bare UTC "Z" guess).
export function nowWithOffset(date = new Date()) {
  const pad = (n) => String(Math.abs(Math.trunc(n))).padStart(2, "0");
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `${sign}${pad(offset / 60)}:${pad(offset % 60)}`
  );
}

export function newRecord(type, fields, patient) {
  const body = {
    id: crypto.randomUUID(),
    [OBSERVED[type]]: nowWithOffset(),
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    ...fields,
  };
  if (patient) body.patient = patient;
  return body;
}

// One transaction for the outbox row and the local diary row: both or neither. The row
// names its author: on a shared phone, only the one who wrote it may send it.
export async function save(type, body, patient, owner) {
  const saved_at = new Date().toISOString();
  await putInto({
    outbox: [{ id: body.id, type, body, patient, owner, saved_at, state: "waiting" }],
    records: [{ id: body.id, type, patient, data: { ...body, status: "active" }, pending: true }],
  });
  return body;
}

export const waitingCount = async () => (await all("outbox")).filter((item) => item.state === "waiting").length;
export const problems = async () => (await all("outbox")).filter((item) => item.state !== "waiting");
export const total = () => count("outbox");
export const items = () => all("outbox");

export async function discard(id) {
  await remove("outbox", id);
  const local = await get("records", id);
  if (local && local.pending) await remove("records", id);
}
