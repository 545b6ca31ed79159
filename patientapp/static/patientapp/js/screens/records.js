// The other three records: an adverse effect, a pump bolus (pump patients only) and a
// medication dose (drug first, then its own routes and units).
import { useState } from "preact/hooks";
import { html } from "../html.js";
import { t } from "../i18n.js";
import { afterSave } from "../recording.js";
import { ErrorSummary, Radios, Score, Screen } from "../ui.js";

function Form({ store, title, onSave, ready, errors, children }) {
  const [saving, setSaving] = useState(false);
  return html`<${Screen} title=${title} store=${store}>
    <${ErrorSummary} errors=${errors} />
    <form novalidate onSubmit=${async (e) => { e.preventDefault(); if (!ready || saving) return; setSaving(true); await onSave(); }}>
      ${children}
      <div class="actions"><button class="primary" type="submit" disabled=${!ready || saving}>${t("save")}</button></div>
    </form>
  </${Screen}>`;
}

export function AdverseEffect({ store }) {
  const catalog = store.state.catalog;
  const [effect, setEffect] = useState(null);
  const [grade, setGrade] = useState(null);
  const [drug, setDrug] = useState("");
  const [limits, setLimits] = useState(false);
  if (!catalog) return html`<${Screen} title=${t("adverse_effect")} store=${store}><p>${t("needs_connection")}</p></${Screen}>`;
  const levels = catalog.scales.grade.levels.map((l) => ({ code: l.value, label: `${l.value} · ${l.label}` }));
  const save = () => afterSave(store, "adverse_effect", {
    effect, grade, limits_daily_activities: limits, ...(drug.trim() ? { suspected_drug: drug.trim().slice(0, 100) } : {}),
  });
  return html`<${Form} store=${store} title=${t("adverse_effect")} ready=${effect && grade !== null} onSave=${save}>
    <${Radios} legend=${t("which_effect")} name="effect" items=${catalog.adverse_effects} value=${effect} onChange=${setEffect} />
    <${Radios} legend=${t("how_severe")} name="grade" items=${levels} value=${grade} onChange=${setGrade} />
    <div class="field"><label for="field-suspected_drug">${t("suspected_drug")}</label>
      <input id="field-suspected_drug" maxlength="100" value=${drug} onInput=${(e) => setDrug(e.target.value)} /></div>
    <label class="check"><input type="checkbox" checked=${limits} onChange=${(e) => setLimits(e.target.checked)} /><span>${t("limits_daily_activities")}</span></label>
  </${Form}>`;
}

export function Bolus({ store }) {
  const [outcome, setOutcome] = useState(null);
  const [before, setBefore] = useState(undefined);
  const [after, setAfter] = useState(undefined);
  const outcomes = [
    { code: "delivered", label: t("bolus_delivered") },
    { code: "denied_lockout", label: t("bolus_denied_lockout") },
    { code: "denied_daily_max", label: t("bolus_denied_daily_max") },
  ];
  const save = () => afterSave(store, "bolus", {
    outcome, source: "patient", ...(before !== undefined ? { pain_before: before } : {}), ...(after !== undefined ? { pain_after: after } : {}),
  });
  return html`<${Form} store=${store} title=${t("bolus")} ready=${Boolean(outcome)} onSave=${save}>
    <${Radios} legend=${t("bolus_question")} name="outcome" items=${outcomes} value=${outcome} onChange=${setOutcome} />
    <${Score} legend=${t("pain_before")} name="pain_before" value=${before} onChange=${setBefore} />
    <${Score} legend=${t("pain_after")} name="pain_after" value=${after} onChange=${setAfter} />
  </${Form}>`;
}

export function Medication({ store }) {
  const catalog = store.state.catalog;
  const [drug, setDrug] = useState(null);
  const [route, setRoute] = useState(null);
  const [unit, setUnit] = useState(null);
  const [dose, setDose] = useState("");
  const [kind, setKind] = useState("scheduled");
  if (!catalog) return html`<${Screen} title=${t("medication")} store=${store}><p>${t("needs_connection")}</p></${Screen}>`;
  const chosen = catalog.drugs.find((d) => d.code === drug);
  const routeLabels = Object.fromEntries((catalog.routes || []).map((r) => [r.code, r.label]));
  const pickDrug = (code) => {
    const next = catalog.drugs.find((d) => d.code === code);
    setDrug(code);
    setRoute(next.routes.length === 1 ? next.routes[0] : null);
    setUnit(next.units.length === 1 ? next.units[0] : null);
  };
  const amount = Number(String(dose).replace(",", "."));
  const ready = chosen && route && unit && amount > 0;
  const save = () => afterSave(store, "medication", { drug, route, unit, dose: amount, kind });
  return html`<${Form} store=${store} title=${t("medication")} ready=${ready} onSave=${save}>
    <div class="field"><label for="field-drug">${t("which_drug")}</label>
      <select id="field-drug" onChange=${(e) => pickDrug(e.target.value)}>
        <option value="" selected=${!drug}>${t("choose")}</option>
        ${catalog.drugs.map((d) => html`<option value=${d.code} selected=${d.code === drug}>${d.label}</option>`)}
      </select></div>
    ${chosen && html`
      <${Radios} legend=${t("route")} name="route" items=${chosen.routes.map((r) => ({ code: r, label: routeLabels[r] || r }))} value=${route} onChange=${setRoute} />
      <${Radios} legend=${t("unit")} name="unit" items=${chosen.units.map((u) => ({ code: u, label: u }))} value=${unit} onChange=${setUnit} />
      <div class="field"><label for="field-dose">${t("dose")}</label>
        <input id="field-dose" inputmode="decimal" value=${dose} onInput=${(e) => setDose(e.target.value)} /></div>
      <${Radios} legend=${t("dose_kind")} name="kind" items=${[{ code: "scheduled", label: t("scheduled") }, { code: "rescue", label: t("rescue") }]} value=${kind} onChange=${setKind} />`}
  </${Form}>`;
}
