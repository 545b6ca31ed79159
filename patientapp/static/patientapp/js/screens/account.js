// Own alert statuses, caregivers (invite with code and QR, revoke), export, withdrawal of
// consent, and settings (language, reminder time, quiet hours, push on this phone).
import { useEffect, useState } from "preact/hooks";
import { api } from "../api.js";
import { kv } from "../db.js";
import { html } from "../html.js";
import { formatMoment, t } from "../i18n.js";
import { logout, pushSubscription, setLanguage, store as appStore } from "../store.js";
import { ErrorSummary, errorsOf, NeedsConnection, Screen } from "../ui.js";

function useOnline(load, deps) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const [version, setVersion] = useState(0);
  useEffect(() => {
    load().then(setData, setError);
  }, [...deps, version]);
  return [data, error, () => setVersion(version + 1)];
}

export function Alerts({ store }) {
  const patient = store.state.patient;
  const [data, error] = useOnline(
    () => api.get("alerts/", { query: { status: "open,acknowledged,resolved", patient: store.state.me.role === "patient" ? undefined : patient } }),
    [patient],
  );
  const alerts = (data && (data.results || data)) || [];
  return html`<${Screen} title=${t("alerts")} store=${store}>
    <p>${t("alerts_intro")}</p>
    ${error && html`<p>${t("needs_connection")}</p>`}
    ${data && alerts.length === 0 && html`<p>${t("no_alerts")}</p>`}
    <ul class="records">${alerts.map((a) => html`<li class="record">
      <p class="record-title"><strong>${t("rule_" + a.rule)}</strong></p>
      <p>${t("severity_" + a.severity)} · ${t("alert_status_" + a.status)}</p>
      <p>${formatMoment(a.created_at)}</p>
    </li>`)}</ul>
  </${Screen}>`;
}

export function Caregivers({ store }) {
  const patient = store.state.patient;
  const [links, error, reload] = useOnline(() => api.get(`patients/${patient}/caregivers/`), [patient]);
  const [invite, setInvite] = useState(null);
  const [relationship, setRelationship] = useState("");
  const [canView, setCanView] = useState(true);
  const [canReport, setCanReport] = useState(true);
  const [errors, setErrors] = useState({});
  const [qr, setQr] = useState("");
  const active = ((links && (links.results || links)) || []).filter((l) => !l.revoked_at);
  const create = async (e) => {
    e.preventDefault();
    try {
      const answer = await api.post(`patients/${patient}/invites/`, { role: "caregiver", relationship, can_view: canView, can_report: canReport });
      setInvite(answer);
      setErrors({});
      const { renderSVG } = await import("../../vendor/uqr-0.1.3/uqr.mjs");
      setQr(renderSVG(`${location.origin}/app/#enroll=${answer.code}`, { border: 2 }));
    } catch (exc) {
      setErrors(errorsOf(exc));
    }
  };
  const revoke = async (link) => {
    try {
      await api.del(`patients/${patient}/caregivers/${link.id}/`);
      reload();
    } catch (exc) {
      setErrors(errorsOf(exc));
    }
  };
  return html`<${Screen} title=${t("caregivers")} store=${store}>
    <${ErrorSummary} errors=${errors} />
    ${error && html`<p>${t("needs_connection")}</p>`}
    ${links && active.length === 0 && html`<p>${t("no_caregivers")}</p>`}
    <ul class="records">${active.map((link) => html`<li class="record">
      <p class="record-title"><strong>${link.caregiver_username || t("caregiver")}</strong>${link.relationship ? ` · ${link.relationship}` : ""}</p>
      <p>${link.can_view ? t("may_view") : t("may_not_view")} · ${link.can_report ? t("may_report") : t("may_not_report")}</p>
      <button class="secondary" onClick=${() => revoke(link)}>${t("revoke")}</button>
    </li>`)}</ul>
    <h2>${t("invite_caregiver")}</h2>
    ${invite ? html`<div class="invite" data-testid="invite">
        <p>${t("invite_code_is")}</p>
        <p class="code" data-testid="invite-code">${invite.code}</p>
        <p>${t("invite_expires", { time: formatMoment(invite.expires_at) })}</p>
        <div class="qr" role="img" aria-label=${t("qr_label")} dangerouslySetInnerHTML=${{ __html: qr }}></div>
        <button class="secondary" onClick=${() => { setInvite(null); setQr(""); }}>${t("done")}</button>
      </div>`
    : html`<form onSubmit=${create} novalidate>
        <div class="field"><label for="field-relationship">${t("relationship")}</label>
          <input id="field-relationship" maxlength="50" value=${relationship} onInput=${(e) => setRelationship(e.target.value)} /></div>
        <label class="check"><input type="checkbox" checked=${canView} onChange=${(e) => setCanView(e.target.checked)} /><span>${t("may_view")}</span></label>
        <label class="check"><input type="checkbox" checked=${canReport} onChange=${(e) => setCanReport(e.target.checked)} /><span>${t("may_report")}</span></label>
        <button class="primary" type="submit" disabled=${!store.state.online}>${t("create_invite")}</button>
      </form>`}
    <${NeedsConnection} store=${store} />
  </${Screen}>`;
}

export function Export({ store }) {
  const [url, setUrl] = useState("");
  const [errors, setErrors] = useState({});
  const make = async () => {
    try {
      const data = await api.get("me/export/");
      setUrl(URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" })));
    } catch (exc) {
      setErrors(errorsOf(exc));
    }
  };
  return html`<${Screen} title=${t("export")} store=${store}>
    <p>${t("export_intro")}</p>
    <${ErrorSummary} errors=${errors} />
    ${url ? html`<p><a class="primary button" href=${url} download="crossroad-my-data.json">${t("download_export")}</a></p>`
      : html`<button class="primary" disabled=${!store.state.online} onClick=${make}>${t("prepare_export")}</button>`}
    <${NeedsConnection} store=${store} />
  </${Screen}>`;
}

export function Withdraw({ store }) {
  const [sure, setSure] = useState(false);
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState({});
  const [done, setDone] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    try {
      await api.post("me/erase/", { password, confirm: sure });
      setDone(true);
      await logout({ discard: true });
      appStore.set({ message: "withdrawn" });
    } catch (exc) {
      setErrors(errorsOf(exc));
    }
  };
  if (done) return html`<${Screen} title=${t("withdraw")} store=${store}><p role="status">${t("withdrawn")}</p></${Screen}>`;
  return html`<${Screen} title=${t("withdraw")} store=${store}>
    <p>${t("withdraw_intro")}</p>
    <${ErrorSummary} errors=${errors} />
    <form onSubmit=${submit} novalidate>
      <label class="check"><input id="field-confirm" type="checkbox" checked=${sure} onChange=${(e) => setSure(e.target.checked)} /><span>${t("withdraw_confirm")}</span></label>
      <div class="field"><label for="field-password">${t("password")}</label>
        <input id="field-password" type="password" autocomplete="current-password" value=${password} onInput=${(e) => setPassword(e.target.value)} /></div>
      <button class="danger" type="submit" disabled=${!sure || !password || !store.state.online}>${t("withdraw_button")}</button>
    </form>
    <${NeedsConnection} store=${store} />
  </${Screen}>`;
}

function urlBase64ToBytes(text) {
  const padded = (text + "=".repeat((4 - (text.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

export function Settings({ store }) {
  const me = store.state.me || {};
  const [reminder, setReminder] = useState(me.reminder_time ? me.reminder_time.slice(0, 5) : "");
  const [quietStart, setQuietStart] = useState(me.quiet_hours_start ? me.quiet_hours_start.slice(0, 5) : "");
  const [quietEnd, setQuietEnd] = useState(me.quiet_hours_end ? me.quiet_hours_end.slice(0, 5) : "");
  const [errors, setErrors] = useState({});
  const [saved, setSaved] = useState("");
  const [push, setPush] = useState("unknown");
  const [confirmDiscard, setConfirmDiscard] = useState(0);
  useEffect(() => {
    if (!("PushManager" in window) || !("Notification" in window)) setPush("unsupported");
    else pushSubscription().then((s) => setPush(s ? "on" : Notification.permission === "denied" ? "denied" : "off"), () => setPush("off"));
  }, []);
  const chooseLanguage = async (lang) => {
    await setLanguage(lang);
    try {
      const updated = await api.patch("me/", { language: lang });
      await kv.set("me", updated);
      appStore.set({ me: updated });
    } catch {
      // offline: the phone speaks the language now; the server learns it next time
    }
  };
  const saveTimes = async (e) => {
    e.preventDefault();
    try {
      const updated = await api.patch("me/", {
        reminder_time: reminder || null, quiet_hours_start: quietStart || null, quiet_hours_end: quietEnd || null,
      });
      await kv.set("me", updated);
      appStore.set({ me: updated });
      setErrors({});
      setSaved(t("settings_saved"));
    } catch (exc) {
      setErrors(errorsOf(exc));
    }
  };
  const enablePush = async () => {
    try {
      const permission = await Notification.requestPermission();
      if (permission !== "granted") { setPush("denied"); return; }
      const { public_key: key } = await api.get("devices/webpush-key/", { auth: false });
      const registration = await navigator.serviceWorker.ready;
      const subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: urlBase64ToBytes(key) });
      await api.post("devices/", { platform: "webpush", token: JSON.stringify(subscription.toJSON()) });
      setPush("on");
    } catch (exc) {
      setErrors(errorsOf(exc));
    }
  };
  const disablePush = async () => {
    const subscription = await pushSubscription();
    if (subscription) {
      try { await api.del("devices/", { token: JSON.stringify(subscription.toJSON()) }); } catch { /* offline */ }
      await subscription.unsubscribe();
    }
    setPush("off");
  };
  const signOut = async (discard = false) => {
    const left = await logout({ discard });
    if (left) setConfirmDiscard(left);
  };
  return html`<${Screen} title=${t("settings")} store=${store}>
    <${ErrorSummary} errors=${errors} />
    <fieldset class="checks"><legend>${t("language")}</legend>
      <label class="check" lang="en"><input type="radio" name="language" checked=${store.state.language === "en"} onChange=${() => chooseLanguage("en")} /><span>English</span></label>
      <label class="check" lang="it"><input type="radio" name="language" checked=${store.state.language === "it"} onChange=${() => chooseLanguage("it")} /><span>Italiano</span></label>
    </fieldset>
    ${me.role === "patient" && html`<form onSubmit=${saveTimes} novalidate>
      <h2>${t("reminders")}</h2>
      <div class="field"><label for="field-reminder_time">${t("reminder_time")}</label>
        <input id="field-reminder_time" type="time" value=${reminder} onInput=${(e) => setReminder(e.target.value)} /></div>
      <div class="field"><label for="field-quiet_hours_start">${t("quiet_from")}</label>
        <input id="field-quiet_hours_start" type="time" value=${quietStart} onInput=${(e) => setQuietStart(e.target.value)} /></div>
      <div class="field"><label for="field-quiet_hours_end">${t("quiet_until")}</label>
        <input id="field-quiet_hours_end" type="time" value=${quietEnd} onInput=${(e) => setQuietEnd(e.target.value)} /></div>
      <button class="primary" type="submit" disabled=${!store.state.online}>${t("save")}</button>
      ${saved && html`<p role="status">${saved}</p>`}
    </form>`}
    <h2>${t("push_title")}</h2>
    <p data-testid="push-state">${t("push_" + push)}</p>
    ${push === "off" && html`<button class="secondary" disabled=${!store.state.online} onClick=${enablePush}>${t("push_enable")}</button>`}
    ${push === "on" && html`<button class="secondary" onClick=${disablePush}>${t("push_disable")}</button>`}
    <h2>${t("this_phone")}</h2>
    ${confirmDiscard > 0 ? html`<div class="notice" role="alert">
        <p>${t("logout_waiting", { n: confirmDiscard })}</p>
        <button class="danger" onClick=${() => signOut(true)}>${t("logout_discard")}</button>
        <button class="link" onClick=${() => setConfirmDiscard(0)}>${t("cancel")}</button>
      </div>`
    : html`<button class="secondary" id="logout" onClick=${() => signOut(false)}>${t("log_out")}</button>`}
    ${(me.patients || []).length > 1 && html`<p><a href="#/patients">${t("switch_patient")}</a></p>`}
  </${Screen}>`;
}
