// Exactly once: drain the outbox with POST sync/ and pull others' changes with
// GET sync/changes/. Used by the page (on start, on reconnect, every few minutes,
// after each save) and by the service worker's background sync.
import { api } from "./api.js";
import { all, get, kv, putMany, remove } from "./db.js";
import { SECTIONS } from "./outbox.js";

const BATCH = 500;

function exclusive(name, work) {
  if (globalThis.navigator && navigator.locks) return navigator.locks.request(name, work);
  return work();
}

// created and duplicate: the server has it, the outbox lets it go. invalid and conflict:
// kept and shown, for the person to fix or discard; never silently dropped.
async function sendBatch(batch) {
  const body = Object.fromEntries(Object.values(SECTIONS).map((section) => [section, []]));
  for (const item of batch) body[SECTIONS[item.type]].push(item.body);
  const answer = await api.post("sync/", body);
  const byId = new Map(batch.map((item) => [item.id, item]));
  const settled = [];
  const kept = [];
  for (const result of answer.results) {
    const item = byId.get(result.id);
    if (!item) continue;
    if (result.status === "created" || result.status === "duplicate") settled.push(item);
    else kept.push({ ...item, state: result.status, errors: result.errors || {} });
  }
  for (const item of settled) await remove("outbox", item.id);
  const locals = [];
  for (const item of settled) {
    const local = await get("records", item.id);
    if (local) locals.push({ ...local, pending: false });
  }
  if (locals.length) await putMany("records", locals);
  if (kept.length) await putMany("outbox", kept);
  return settled.length;
}

export async function drain() {
  return exclusive("crossroad-sync", async () => {
    const me = await kv.get("me");
    if (!me) return 0;
    let sent = 0;
    for (;;) {
      // Another account's entries (a family phone, someone else logged in after a session
      // ended) wait for their author: sent under this account they would be misattributed.
      const waiting = (await all("outbox"))
        .filter((item) => item.state === "waiting" && item.owner === me.id)
        .sort((a, b) => (a.saved_at < b.saved_at ? -1 : 1))
        .slice(0, BATCH);
      if (!waiting.length) break;
      sent += await sendBatch(waiting);
      if (waiting.length < BATCH) break;
    }
    return sent;
  });
}

const TYPES = { checkins: "checkin", adverse_effects: "adverse_effect", boluses: "bolus", medications: "medication" };

export async function pull(patient) {
  return exclusive(`crossroad-pull-${patient}`, async () => {
    const key = `checkpoint:${patient}`;
    let since = await kv.get(key);
    let pulled = 0;
    for (;;) {
      const answer = await api.get("sync/changes/", { query: { patient, since } });
      const rows = [];
      for (const [section, records] of Object.entries(answer.changes)) {
        for (const record of records) {
          const local = await get("records", record.id);
          // A local edit still waiting to be sent wins over the server's older copy.
          if (local && local.pending) continue;
          rows.push({ id: record.id, type: TYPES[section], patient, data: record, pending: false });
        }
      }
      if (rows.length) await putMany("records", rows);
      pulled += rows.length;
      since = answer.checkpoint;
      await kv.set(key, since);
      if (!answer.has_more) break;
    }
    return pulled;
  });
}

// The patients whose diary this phone keeps: the patient themself, or a caregiver's
// linked patients whose link lets them read it.
export async function readablePatients() {
  const me = await kv.get("me");
  if (!me) return [];
  return (me.patients || []).filter((p) => p.can_view).map((p) => String(p.id));
}

export async function syncAll() {
  await drain();
  for (const patient of await readablePatients()) await pull(patient);
  const at = new Date().toISOString();
  await kv.set("lastSync", at);
  return at;
}
