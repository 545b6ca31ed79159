// The daily check-in: pain now in two taps (the score, then Save); then, for whoever has
// the strength, one section a screen. A red flag shows the safety message at once.
import { useState } from "preact/hooks";
import { html } from "../html.js";
import { t } from "../i18n.js";
import { afterSave } from "../recording.js";
import { Checks, Score, Screen } from "../ui.js";

const SECTIONS = ["red_flags", "pain_24h", "interference", "neuropathic", "sites", "breakthrough", "symptoms", "wishes", "note"];

function fieldsOf(draft) {
  const fields = {};
  for (const [name, value] of Object.entries(draft)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value) && !value.length) continue;
    if (typeof value === "object" && !Array.isArray(value) && !Object.keys(value).length) continue;
    fields[name] = value;
  }
  return fields;
}

export function CheckIn({ store }) {
  const catalog = store.state.catalog;
  const [draft, setDraft] = useState({});
  const [step, setStep] = useState(0);
  const [saving, setSaving] = useState(false);
  const set = (name, value) => setDraft({ ...draft, [name]: value });
  const setIn = (group, code, value) => setDraft({ ...draft, [group]: { ...(draft[group] || {}), [code]: value } });
  const save = async () => {
    if (draft.pain_now === undefined || saving) return;
    setSaving(true);
    await afterSave(store, "checkin", fieldsOf(draft));
  };
  // Pain now needs nothing from the catalog: it works before the catalog has ever come.
  if (!catalog && step > 0) return html`<${Screen} title=${t("checkin")} store=${store}><p>${t("needs_connection")}</p></${Screen}>`;
  const section = step === 0 ? "pain_now" : SECTIONS[step - 1];
  const byCode = (items) => items.map((item) => ({ code: item.code, label: item.label }));
  let body;
  if (section === "pain_now") {
    body = html`<${Score} legend=${t("pain_now_question")} name="pain_now" value=${draft.pain_now} onChange=${(v) => set("pain_now", v)} hint=${t("nrs_hint")} />`;
  } else if (section === "red_flags") {
    body = html`<${Checks} legend=${t("red_flags_question")} name="red_flags" items=${byCode(catalog.red_flags)} chosen=${draft.red_flags} onChange=${(v) => set("red_flags", v)} />`;
  } else if (section === "pain_24h") {
    body = html`
      <${Score} legend=${t("pain_worst")} name="pain_worst" value=${draft.pain_worst} onChange=${(v) => set("pain_worst", v)} />
      <${Score} legend=${t("pain_least")} name="pain_least" value=${draft.pain_least} onChange=${(v) => set("pain_least", v)} />
      <${Score} legend=${t("pain_average")} name="pain_average" value=${draft.pain_average} onChange=${(v) => set("pain_average", v)} />`;
  } else if (section === "interference") {
    body = html`<p>${t("interference_intro")}</p>${catalog.interference_items.map((item) => html`
      <${Score} legend=${item.label} name=${"interference-" + item.code} value=${(draft.interference || {})[item.code]} onChange=${(v) => setIn("interference", item.code, v)} />`)}`;
  } else if (section === "neuropathic") {
    body = html`<${Checks} legend=${t("neuropathic_question")} name="neuropathic" items=${byCode(catalog.neuropathic_descriptors)} chosen=${draft.neuropathic} onChange=${(v) => set("neuropathic", v)} />`;
  } else if (section === "sites") {
    body = html`<${Checks} legend=${t("sites_question")} name="pain_sites" items=${byCode(catalog.pain_sites)} chosen=${draft.pain_sites} onChange=${(v) => set("pain_sites", v)} />`;
  } else if (section === "breakthrough") {
    body = html`<div class="field"><label for="field-breakthrough_episodes">${t("breakthrough_question")}</label>
      <input id="field-breakthrough_episodes" type="number" inputmode="numeric" min="0" max="50" value=${draft.breakthrough_episodes ?? ""}
        onInput=${(e) => set("breakthrough_episodes", e.target.value === "" ? undefined : Math.max(0, parseInt(e.target.value, 10) || 0))} /></div>`;
  } else if (section === "symptoms") {
    body = html`<p>${t("symptoms_intro")}</p>${catalog.symptoms.filter((s) => s.code !== "pain").map((item) => html`
      <${Score} legend=${item.label} name=${"symptom-" + item.code} value=${(draft.symptoms || {})[item.code]} onChange=${(v) => setIn("symptoms", item.code, v)} />`)}`;
  } else if (section === "wishes") {
    body = html`<fieldset class="checks"><legend>${t("wishes_question")}</legend>
      <label class="check"><input type="checkbox" checked=${Boolean(draft.wants_fewer_medications)} onChange=${(e) => set("wants_fewer_medications", e.target.checked)} /><span>${t("wants_fewer_medications")}</span></label>
      <label class="check"><input type="checkbox" checked=${Boolean(draft.wants_procedure_discussion)} onChange=${(e) => set("wants_procedure_discussion", e.target.checked)} /><span>${t("wants_procedure_discussion")}</span></label>
    </fieldset>`;
  } else {
    body = html`<div class="field"><label for="field-note">${t("note")}</label>
      <textarea id="field-note" maxlength="2000" rows="5" onInput=${(e) => set("note", e.target.value)}>${draft.note || ""}</textarea></div>`;
  }
  const last = step === SECTIONS.length;
  return html`<${Screen} title=${t("checkin")} store=${store}>
    <p class="progress">${t("step_of", { n: step + 1, total: SECTIONS.length + 1 })}</p>
    <form onSubmit=${(e) => { e.preventDefault(); save(); }}>
      ${body}
      <div class="actions">
        <button class="primary" type="submit" id="save-checkin" disabled=${draft.pain_now === undefined || saving}>${t("save")}</button>
        ${!last && (catalog || step > 0) && html`<button type="button" class="secondary" id="next" disabled=${draft.pain_now === undefined} onClick=${() => { setStep(step + 1); window.scrollTo(0, 0); }}>${step === 0 ? t("add_details") : t("next")}</button>`}
        ${step > 0 && html`<button type="button" class="link" onClick=${() => setStep(step - 1)}>${t("previous")}</button>`}
      </div>
    </form>
  </${Screen}>`;
}

export function Safety({ store }) {
  const catalog = store.state.catalog || {};
  const flags = (store.state.safety && store.state.safety.flags) || [];
  const concerns = [...new Set((catalog.red_flags || []).filter((f) => flags.includes(f.code)).map((f) => f.concern))];
  const number = catalog.emergency_number || "112";
  const who = store.state.patientName;
  const caregiver = store.state.me && store.state.me.role === "caregiver";
  return html`<main id="main" tabindex="-1" class="safety" role="alert">
    ${who && html`<p class="who">${caregiver ? t("reporting_for", { name: who }) : t("diary_of", { name: who })}</p>`}
    <h1 tabindex="-1" class="screen-title">${t("safety_title")}</h1>
    <p class="safety-message" data-testid="safety-message">${catalog.safety_message || t("safety_fallback")}</p>
    <p><a class="call" href=${"tel:" + number} data-testid="call">${t("call_number", { number })}</a></p>
    ${concerns.length > 0 && html`<ul>${concerns.map((c) => html`<li>${c}</li>`)}</ul>`}
    <p>${t("safety_saved")}</p>
    <p><a class="secondary button" href="#/">${t("back_home")}</a></p>
  </main>`;
}
