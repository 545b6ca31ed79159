// Enrollment with the invite code (from the QR's #enroll=CODE or typed), login, and the
// caregiver's choice of patient.
import { useState } from "preact/hooks";
import { api } from "../api.js";
import { html } from "../html.js";
import { t } from "../i18n.js";
import { choosePatient, go, setLanguage, signedIn } from "../store.js";
import { ErrorSummary, errorsOf } from "../ui.js";

function Field({ name, label, value, onInput, type = "text", autocomplete, errors, hint }) {
  const message = errors && errors[name];
  return html`
    <div class=${"field" + (message ? " field-error" : "")}>
      <label for=${"field-" + name}>${label}</label>
      ${hint && html`<p class="hint" id=${"hint-" + name}>${hint}</p>`}
      ${message && html`<p class="error-message" id=${"error-" + name}>${[].concat(message).join(" ")}</p>`}
      <input id=${"field-" + name} name=${name} type=${type} value=${value} autocomplete=${autocomplete}
        aria-describedby=${[hint && "hint-" + name, message && "error-" + name].filter(Boolean).join(" ") || undefined}
        aria-invalid=${message ? "true" : undefined}
        onInput=${(e) => onInput(e.target.value)} />
    </div>`;
}

function LanguageSwitch({ store }) {
  const other = store.state.language === "it" ? "en" : "it";
  return html`<p><button type="button" class="link" lang=${other} onClick=${() => setLanguage(other)}>${other === "it" ? "Italiano" : "English"}</button></p>`;
}

function Outer({ title, children, store }) {
  return html`<main id="main" tabindex="-1" class="outer">
    <p class="brand">Crossroad</p>
    <h1 tabindex="-1" class="screen-title">${title}</h1>
    ${children}
    <${LanguageSwitch} store=${store} />
  </main>`;
}

export function Login({ store }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    try {
      await signedIn(await api.post("auth/token/", { username, password }, { auth: false }));
    } catch (exc) {
      setErrors(exc.status === 401 ? { non_field_errors: [t("wrong_login")] } : errorsOf(exc));
    } finally {
      setBusy(false);
    }
  };
  return html`<${Outer} title=${t("log_in")} store=${store}>
    ${["session_ended", "withdrawn"].includes(store.state.message) && html`<p class="notice" role="status">${t(store.state.message)}</p>`}
    ${store.state.waiting > 0 && html`<p class="notice">${t("n_waiting_kept", { n: store.state.waiting })}</p>`}
    <${ErrorSummary} errors=${errors} />
    <form onSubmit=${submit} novalidate>
      <${Field} name="username" label=${t("username")} value=${username} onInput=${setUsername} autocomplete="username" errors=${errors} />
      <${Field} name="password" label=${t("password")} value=${password} onInput=${setPassword} type="password" autocomplete="current-password" errors=${errors} />
      <button class="primary" type="submit" disabled=${busy}>${t("log_in")}</button>
    </form>
    <p><a href="#/enroll">${t("have_a_code")}</a></p>
  </${Outer}>`;
}

export function Enroll({ store }) {
  const [code, setCode] = useState(store.state.enrollCode || "");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    try {
      const answer = await api.post("auth/enroll/", { code: code.trim(), username, password }, { auth: false });
      store.set({ enrollCode: "" });
      await signedIn(answer);
    } catch (exc) {
      setErrors(errorsOf(exc));
    } finally {
      setBusy(false);
    }
  };
  return html`<${Outer} title=${t("start_with_code")} store=${store}>
    <p>${t("enroll_intro")}</p>
    <${ErrorSummary} errors=${errors} />
    <form onSubmit=${submit} novalidate>
      <${Field} name="code" label=${t("invite_code")} value=${code} onInput=${setCode} autocomplete="one-time-code" errors=${errors} />
      <${Field} name="username" label=${t("choose_username")} value=${username} onInput=${setUsername} autocomplete="username" errors=${errors} />
      <${Field} name="password" label=${t("choose_password")} value=${password} onInput=${setPassword} type="password" autocomplete="new-password" errors=${errors} hint=${t("password_hint")} />
      <button class="primary" type="submit" disabled=${busy}>${t("start")}</button>
    </form>
    <p><a href="#/login">${t("have_an_account")}</a></p>
  </${Outer}>`;
}

export function PatientPicker({ store }) {
  const patients = (store.state.me && store.state.me.patients) || [];
  return html`<main id="main" tabindex="-1" class="outer">
    <h1 tabindex="-1" class="screen-title">${t("choose_patient")}</h1>
    ${patients.length === 0 && html`<p>${t("no_linked_patients")}</p>`}
    <ul class="menu">
      ${patients.map((p) => html`<li><button class="tile" onClick=${async () => { await choosePatient(store.state.me, p.id); go("/"); }}>${p.display_name}</button></li>`)}
    </ul>
  </main>`;
}
