// The one piece of global state: what the screens show. Everything durable lives in
// IndexedDB (db.js); this is its in-memory view plus the current screen's needs.
import { api, SessionEnded } from "./api.js";
import { kv, wipe } from "./db.js";
import { loadStrings } from "./i18n.js";
import * as outbox from "./outbox.js";
import { syncAll } from "./sync.js";

const listeners = new Set();

export const store = {
  state: {
    ready: false,
    online: navigator.onLine,
    me: null,
    patient: null, // the patient whose diary this screen is about (id)
    patientName: "",
    hasPump: false,
    catalog: null,
    language: "en",
    waiting: 0,
    problems: 0,
    lastSync: null,
    syncing: false,
    message: "",
    enrollCode: "",
    safety: null,
  },
  set(patch) {
    this.state = { ...this.state, ...patch };
    for (const listener of listeners) listener(this.state);
  },
  subscribe(listener) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};

export function go(path) {
  if (location.hash !== `#${path}`) location.hash = path;
}

export async function loadCatalog(language) {
  const key = `catalog:${language}`;
  try {
    const catalog = await api.get("catalog/", { auth: false, language });
    await kv.set(key, catalog);
    return catalog;
  } catch {
    return (await kv.get(key)) || null; // offline: the copy kept on purpose
  }
}

export async function setLanguage(language) {
  const lang = await loadStrings(language);
  await kv.set("language", lang);
  store.set({ language: lang, catalog: await loadCatalog(lang) });
}

export async function refreshCounts() {
  const all = await outbox.items();
  store.set({
    waiting: all.filter((item) => item.state === "waiting").length,
    problems: all.filter((item) => item.state !== "waiting").length,
    lastSync: (await kv.get("lastSync")) || null,
  });
}

export async function choosePatient(me, chosenId) {
  const patients = (me && me.patients) || [];
  const chosen = patients.find((p) => String(p.id) === String(chosenId)) || (patients.length === 1 ? patients[0] : null);
  if (!chosen) {
    store.set({ patient: null, patientName: "", link: null });
    return null;
  }
  await kv.set("activePatient", String(chosen.id));
  store.set({ patient: String(chosen.id), patientName: chosen.display_name, link: chosen });
  const cached = await kv.get(`patient:${chosen.id}`);
  if (cached) store.set({ hasPump: Boolean(cached.idds) });
  try {
    const record = await api.get(`patients/${chosen.id}/`);
    await kv.set(`patient:${chosen.id}`, { idds: record.idds || null });
    store.set({ hasPump: Boolean(record.idds) });
  } catch {
    // offline: keep what we knew
  }
  return chosen;
}

export async function sessionEnded() {
  store.set({ me: null, message: "session_ended" });
  go("/login");
}

let syncing = null;
export async function syncNow() {
  if (syncing) return syncing;
  if (!store.state.me || !navigator.onLine) return null;
  store.set({ syncing: true });
  syncing = (async () => {
    try {
      await syncAll();
      await refreshMe();
    } catch (exc) {
      if (exc instanceof SessionEnded) await sessionEnded();
    } finally {
      syncing = null;
      store.set({ syncing: false, dataVersion: (store.state.dataVersion || 0) + 1 });
      await refreshCounts();
    }
  })();
  return syncing;
}

// Links change on the server (a revoked caregiver link disappears at once).
async function refreshMe() {
  const me = await api.get("me/");
  await kv.set("me", me);
  store.set({ me });
  const still = (me.patients || []).some((p) => String(p.id) === String(store.state.patient));
  await choosePatient(me, still ? store.state.patient : null);
  // A revoked link, or one that no longer lets them read: that diary leaves this phone.
  const readable = new Set((me.patients || []).filter((p) => p.can_view).map((p) => String(p.id)));
  const { all, remove } = await import("./db.js");
  for (const record of await all("records")) {
    if (!record.pending && !readable.has(String(record.patient))) await remove("records", record.id);
  }
}

export async function signedIn(tokens) {
  await kv.set("tokens", { access: tokens.access, refresh: tokens.refresh });
  const me = await api.get("me/");
  const before = await kv.get("me");
  if (before && before.id !== me.id) await forgetDiaryOf(before);
  await kv.set("me", me);
  store.set({ me, message: "" });
  // The account's language (a patient's is their record's, set with the team) wins at
  // login; the settings switch changes both.
  if (me.language && me.language !== store.state.language) await setLanguage(me.language);
  await choosePatient(me, await kv.get("activePatient"));
  go(store.state.patient ? "/" : "/patients");
  syncNow();
}

// Someone else logs in after a session ended: the previous person's local diary goes;
// entries they wrote and never sent stay in the outbox for them.
async function forgetDiaryOf(previous) {
  const { all, remove } = await import("./db.js");
  for (const record of await all("records")) await remove("records", record.id);
  for (const patient of previous.patients || []) await kv.remove(`checkpoint:${patient.id}`);
  await kv.remove("activePatient");
}

export async function logout({ discard = false } = {}) {
  await syncNow();
  const left = await outbox.total();
  if (left && !discard) return left;
  const tokens = await kv.get("tokens");
  const subscription = await pushSubscription();
  try {
    if (subscription) {
      await api.del("devices/", { token: JSON.stringify(subscription.toJSON()) });
      await subscription.unsubscribe();
    }
    if (tokens) await api.post("auth/logout/", { refresh: tokens.refresh });
  } catch {
    // offline or already ended: the local wipe below is what protects the next person
  }
  const language = store.state.language;
  await wipe();
  await kv.set("language", language);
  store.set({ me: null, patient: null, patientName: "", waiting: 0, problems: 0, lastSync: null });
  go("/login");
  return 0;
}

export async function pushSubscription() {
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) return null;
  const registration = await navigator.serviceWorker.getRegistration("/app/");
  return registration ? registration.pushManager.getSubscription() : null;
}
