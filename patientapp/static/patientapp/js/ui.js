// Shared pieces of every screen: the header naming whose diary this is, the NHS-style
// error summary, score radios with large targets.
import { html } from "./html.js";
import { t } from "./i18n.js";

export function Screen({ title, store, children, back = true }) {
  const { state } = store;
  const who = state.patientName;
  return html`
    <header class="bar">
      ${back && html`<a class="back" href="#/">${t("back_home")}</a>`}
      ${who && html`<p class="who" data-testid="who">${state.me && state.me.role === "caregiver" ? t("reporting_for", { name: who }) : t("diary_of", { name: who })}</p>`}
      <p class="status" role="status" aria-live="polite">
        <span data-testid="waiting">${t("n_waiting", { n: state.waiting })}</span>
        <span> · </span>
        <span data-testid="last-sync">${state.lastSync ? t("last_synced", { time: new Date(state.lastSync).toLocaleTimeString(state.language, { hour: "2-digit", minute: "2-digit" }) }) : t("never_synced")}</span>
        ${!state.online && html`<span> · ${t("offline")}</span>`}
      </p>
    </header>
    <main id="main" tabindex="-1">
      <h1 tabindex="-1" class="screen-title">${title}</h1>
      ${children}
    </main>`;
}

export function ErrorSummary({ errors }) {
  const entries = Object.entries(errors || {}).filter(([, messages]) => messages && messages.length);
  if (!entries.length) return null;
  return html`
    <div class="error-summary" role="alert" tabindex="-1">
      <h2>${t("there_is_a_problem")}</h2>
      <ul>
        ${entries.map(([field, messages]) => html`<li><a href=${"#field-" + field} onClick=${(e) => { e.preventDefault(); const el = document.getElementById("field-" + field); if (el) el.focus(); }}>${[].concat(messages).join(" ")}</a></li>`)}
      </ul>
    </div>`;
}

export function errorsOf(exc) {
  if (!exc) return {};
  const body = exc.body || {};
  if (body.errors) return body.errors;
  if (body.detail) return { non_field_errors: [body.detail] };
  return { non_field_errors: [t("network_problem")] };
}

let scoreGroup = 0;
export function Score({ legend, value, onChange, min = 0, max = 10, name, hint }) {
  const group = name || `score-${(scoreGroup += 1)}`;
  const values = [];
  for (let v = min; v <= max; v += 1) values.push(v);
  return html`
    <fieldset class="score" id=${"field-" + group}>
      <legend>${legend}</legend>
      ${hint && html`<p class="hint">${hint}</p>`}
      <div class="score-row">
        ${values.map((v) => html`
          <label class=${"score-option" + (value === v ? " chosen" : "")}>
            <input type="radio" name=${group} value=${v} checked=${value === v} onChange=${() => onChange(v)} />
            <span>${v}</span>
          </label>`)}
      </div>
    </fieldset>`;
}

export function Checks({ legend, items, chosen, onChange, name }) {
  const set = new Set(chosen || []);
  const toggle = (code) => {
    const next = new Set(set);
    if (next.has(code)) next.delete(code); else next.add(code);
    onChange([...next]);
  };
  return html`
    <fieldset class="checks" id=${"field-" + name}>
      <legend>${legend}</legend>
      ${items.map((item) => html`
        <label class="check">
          <input type="checkbox" name=${name} value=${item.code} checked=${set.has(item.code)} onChange=${() => toggle(item.code)} />
          <span>${item.label}</span>
        </label>`)}
    </fieldset>`;
}

export function Radios({ legend, items, value, onChange, name }) {
  return html`
    <fieldset class="checks" id=${"field-" + name}>
      <legend>${legend}</legend>
      ${items.map((item) => html`
        <label class="check">
          <input type="radio" name=${name} value=${item.code} checked=${value === item.code} onChange=${() => onChange(item.code)} />
          <span>${item.label}</span>
        </label>`)}
    </fieldset>`;
}

export function NeedsConnection({ store }) {
  return store.state.online ? null : html`<p class="notice">${t("needs_connection")}</p>`;
}
