// The patient and caregiver app: boot, the screens by URL fragment, and when to sync.
import { useEffect, useState } from "preact/hooks";
import { kv } from "./db.js";
import { html, render } from "./html.js";
import { loadStrings, preferredLanguage, t } from "./i18n.js";
import { Alerts, Caregivers, Export, Settings, Withdraw } from "./screens/account.js";
import { Enroll, Login, PatientPicker } from "./screens/auth.js";
import { CheckIn, Safety } from "./screens/checkin.js";
import { Chart, History } from "./screens/history.js";
import { AdverseEffect, Bolus, Medication } from "./screens/records.js";
import { choosePatient, go, loadCatalog, refreshCounts, store, syncNow } from "./store.js";
import { Screen } from "./ui.js";

const SYNC_EVERY_MS = 3 * 60 * 1000;

function Home({ store: s }) {
  const { state } = s;
  const link = state.link || {};
  const reports = state.me.role === "patient" || link.can_report;
  const views = state.me.role === "patient" || link.can_view;
  const [dueToday, setDueToday] = useState(false);
  useEffect(() => {
    (async () => {
      const { all } = await import("./db.js");
      const today = new Date().toDateString();
      const mine = (await all("records")).filter((r) => r.type === "checkin" && String(r.patient) === String(state.patient) && r.data.status !== "entered_in_error");
      setDueToday(!mine.some((r) => new Date(r.data.recorded_at).toDateString() === today));
    })();
  }, [state.patient, state.dataVersion, state.waiting]);
  const tile = (href, label, id) => html`<li><a class="tile" href=${href} id=${id}>${label}</a></li>`;
  return html`<${Screen} title=${t("home_title")} store=${s} back=${false}>
    ${state.flash && html`<p class="notice" role="status">${state.flash}</p>`}
    ${dueToday && reports && html`<p class="banner">${t("diary_due")}</p>`}
    ${state.problems > 0 && html`<p class="notice"><a href="#/history">${t("n_need_attention", { n: state.problems })}</a></p>`}
    <ul class="menu">
      ${reports && tile("#/checkin", t("checkin"), "go-checkin")}
      ${reports && tile("#/adverse", t("adverse_effect"), "go-adverse")}
      ${reports && state.hasPump && tile("#/bolus", t("bolus"), "go-bolus")}
      ${reports && tile("#/medication", t("medication"), "go-medication")}
      ${views && tile("#/history", t("history"), "go-history")}
      ${views && tile("#/chart", t("chart"), "go-chart")}
      ${views && tile("#/alerts", t("alerts"), "go-alerts")}
      ${state.me.role === "patient" && tile("#/caregivers", t("caregivers"), "go-caregivers")}
      ${state.me.role === "patient" && tile("#/export", t("export"), "go-export")}
      ${tile("#/settings", t("settings"), "go-settings")}
      ${state.me.role === "patient" && tile("#/withdraw", t("withdraw"), "go-withdraw")}
    </ul>
    <p><button class="secondary" id="sync-now" disabled=${!state.online || state.syncing} onClick=${() => syncNow()}>${state.syncing ? t("syncing") : t("sync_now")}</button></p>
  </${Screen}>`;
}

const SCREENS = {
  "/": Home,
  "/checkin": CheckIn,
  "/safety": Safety,
  "/adverse": AdverseEffect,
  "/bolus": Bolus,
  "/medication": Medication,
  "/history": History,
  "/chart": Chart,
  "/alerts": Alerts,
  "/caregivers": Caregivers,
  "/export": Export,
  "/withdraw": Withdraw,
  "/settings": Settings,
  "/patients": PatientPicker,
};
const PUBLIC = { "/login": Login, "/enroll": Enroll };

function route() {
  const path = location.hash.replace(/^#/, "") || "/";
  return path.startsWith("/") ? path : "/";
}

function App() {
  const [state, setState] = useState(store.state);
  const [path, setPath] = useState(route());
  useEffect(() => store.subscribe(setState), []);
  useEffect(() => {
    const onHash = () => {
      setPath(route());
      if (store.state.flash && route() !== "/") store.set({ flash: "" });
    };
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  useEffect(() => {
    // A new screen: focus its heading, so a screen reader says where we are.
    const heading = document.querySelector("h1");
    if (heading) heading.focus();
  }, [path, state.ready]);
  if (!state.ready) return html`<main id="main"><p>${t("loading")}</p></main>`;
  const signedIn = Boolean(state.me);
  let Component = PUBLIC[path];
  if (signedIn && !Component) Component = SCREENS[path] || Home;
  if (signedIn && Component === Home && !state.patient) Component = PatientPicker;
  if (!signedIn && !Component) Component = Login;
  if (signedIn && PUBLIC[path]) Component = state.patient ? Home : PatientPicker;
  document.title = `${t("app_name")}${state.patientName ? " · " + state.patientName : ""}`;
  return html`<${Component} store=${{ state, set: (patch) => store.set(patch) }} />`;
}

// #enroll=CODE from the invite's QR: the code stays on the phone (a fragment never
// reaches a server log) and leaves the address bar before the first screen is drawn.
function takeEnrollCode() {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  const code = fragment.get("enroll");
  if (code) {
    store.set({ enrollCode: code });
    history.replaceState(null, "", "/app/#/enroll");
  }
}

// While the app is open it sends the outbox itself (start, reconnect, timer, after a
// save). When it is put away with entries still waiting, the service worker's
// background sync (where the browser has it) sends them once the phone is online.
async function requestBackgroundSync() {
  try {
    const registration = await navigator.serviceWorker.ready;
    if (registration.sync) await registration.sync.register("outbox");
  } catch {
    // no background sync in this browser: the next start sends them
  }
}

async function boot() {
  const language = (await kv.get("language")) || preferredLanguage();
  await loadStrings(language);
  await kv.set("language", language);
  const me = (await kv.get("tokens")) ? await kv.get("me") : null;
  store.set({ language, me, catalog: (await kv.get(`catalog:${language}`)) || null });
  if (me) await choosePatient(me, await kv.get("activePatient"));
  await refreshCounts();
  store.set({ ready: true });
  loadCatalog(language).then((catalog) => catalog && store.set({ catalog }));
  window.addEventListener("online", () => { store.set({ online: true }); syncNow(); });
  window.addEventListener("offline", () => store.set({ online: false }));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") syncNow();
    else if (store.state.waiting > 0) requestBackgroundSync();
  });
  window.addEventListener("pagehide", () => store.state.waiting > 0 && requestBackgroundSync());
  setInterval(syncNow, SYNC_EVERY_MS);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/app/sw.js", { scope: "/app/", type: "module" }).catch(() => {});
    navigator.serviceWorker.addEventListener("message", (event) => {
      if (event.data === "synced") refreshCounts();
    });
  }
  syncNow();
}

takeEnrollCode();
render(html`<${App} />`, document.getElementById("app"));
boot();
