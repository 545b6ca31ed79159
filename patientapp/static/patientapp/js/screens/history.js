// The diary as this phone holds it (its own entries, waiting or sent, and what the pull
// brought from other phones), with correction and retraction; and the 28-day chart.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api.js";
import { all, kv, putMany } from "../db.js";
import { html } from "../html.js";
import { formatMoment, t } from "../i18n.js";
import * as outbox from "../outbox.js";
import { refreshCounts } from "../store.js";
import { ErrorSummary, errorsOf, NeedsConnection, Screen } from "../ui.js";

const PATHS = { checkin: "checkins", adverse_effect: "adverse-effects", bolus: "boluses", medication: "medications" };
// The value a correction changes, per type (the rest is re-entered as a new record).
const MAIN = { checkin: "pain_now", adverse_effect: "grade", bolus: "pain_after", medication: "dose" };

function labelOf(items, code) {
  const item = (items || []).find((i) => i.code === code);
  return item ? item.label : code;
}

function describe(record, catalog) {
  const d = record.data;
  if (record.type === "checkin") return t("pain_n", { n: d.pain_now });
  if (record.type === "adverse_effect") return `${labelOf(catalog && catalog.adverse_effects, d.effect)} · ${t("grade_n", { n: d.grade })}`;
  if (record.type === "bolus") return t("bolus_" + d.outcome);
  return `${labelOf(catalog && catalog.drugs, d.drug)} ${d.dose} ${d.unit}`;
}

const observed = (record) => record.data[outbox.OBSERVED[record.type]];

function canRead(store) {
  const link = store.state.link;
  return !link || link.can_view !== false;
}

export function History({ store }) {
  const [records, setRecords] = useState(null);
  const [problems, setProblems] = useState([]);
  const [editing, setEditing] = useState(null);
  const [value, setValue] = useState("");
  const [errors, setErrors] = useState({});
  const [version, setVersion] = useState(0);
  const patient = store.state.patient;
  useEffect(() => {
    (async () => {
      const rows = (await all("records")).filter((r) => String(r.patient) === String(patient));
      rows.sort((a, b) => (observed(a) < observed(b) ? 1 : -1));
      setRecords(rows);
      setProblems((await outbox.problems()).filter((p) => String(p.patient) === String(patient)));
    })();
  }, [patient, version, store.state.dataVersion]);
  if (!canRead(store)) return html`<${Screen} title=${t("history")} store=${store}><p>${t("no_view_right")}</p></${Screen}>`;
  const act = async (record, work) => {
    try {
      const updated = await work();
      await putMany("records", [{ ...record, data: updated, pending: false }]);
      setEditing(null);
      setErrors({});
      setVersion(version + 1);
    } catch (exc) {
      setErrors(errorsOf(exc));
    }
  };
  const correct = (record) => act(record, () => api.patch(`diary/${PATHS[record.type]}/${record.id}/`, { [MAIN[record.type]]: Number(value) }));
  const retract = (record) => act(record, () => api.post(`diary/${PATHS[record.type]}/${record.id}/retract/`, { reason: value || t("entered_in_error") }));
  const catalog = store.state.catalog;
  return html`<${Screen} title=${t("history")} store=${store}>
    <${ErrorSummary} errors=${errors} />
    ${problems.length > 0 && html`<section class="problems"><h2>${t("needs_your_attention")}</h2>
      <ul class="records">${problems.map((p) => html`<li class="record problem">
        <p><strong>${t(p.state === "conflict" ? "conflict_explained" : "invalid_explained")}</strong></p>
        <p>${describe({ type: p.type, data: p.body }, catalog)} · ${formatMoment(p.body[outbox.OBSERVED[p.type]])}</p>
        <ul>${Object.entries(p.errors || {}).map(([field, messages]) => html`<li>${field}: ${[].concat(messages).join(" ")}</li>`)}</ul>
        <button class="secondary" onClick=${async () => { await outbox.discard(p.id); await refreshCounts(); setVersion(version + 1); }}>${t("discard")}</button>
      </li>`)}</ul></section>`}
    ${records && records.length === 0 && html`<p>${t("no_entries")}</p>`}
    <ul class="records" data-testid="history">
      ${(records || []).map((record) => {
        const retracted = record.data.status === "entered_in_error";
        return html`<li class=${"record" + (retracted ? " retracted" : "")} data-id=${record.id}>
          <p class="record-title"><strong>${t("type_" + record.type)}</strong> · ${formatMoment(observed(record))}</p>
          <p>${describe(record, catalog)}</p>
          <p class="badges">
            ${record.pending && html`<span class="badge">${t("waiting_to_sync")}</span>`}
            ${retracted && html`<span class="badge">${t("entered_in_error")}</span>`}
            ${record.data.version > 1 && !retracted && html`<span class="badge">${t("corrected")}</span>`}
            ${record.data.reporter_role === "caregiver" && html`<span class="badge">${t("by_caregiver")}</span>`}
          </p>
          ${!record.pending && !retracted && editing && editing.id === record.id && html`
            <div class="field"><label for=${"edit-" + record.id}>${editing.mode === "correct" ? t("new_value") : t("retract_reason")}</label>
              <input id=${"edit-" + record.id} value=${value} inputmode=${editing.mode === "correct" ? "decimal" : "text"} onInput=${(e) => setValue(e.target.value)} /></div>
            <div class="actions">
              <button class="primary" disabled=${!store.state.online} onClick=${() => (editing.mode === "correct" ? correct(record) : retract(record))}>${editing.mode === "correct" ? t("save_correction") : t("confirm_retract")}</button>
              <button class="link" onClick=${() => setEditing(null)}>${t("cancel")}</button>
            </div>`}
          ${!record.pending && !retracted && !(editing && editing.id === record.id) && html`<div class="actions">
            <button class="secondary" onClick=${() => { setEditing({ id: record.id, mode: "correct" }); setValue(String(record.data[MAIN[record.type]] ?? "")); }}>${t("correct")}</button>
            <button class="secondary" onClick=${() => { setEditing({ id: record.id, mode: "retract" }); setValue(""); }}>${t("retract")}</button>
          </div>`}
        </li>`;
      })}
    </ul>
    <${NeedsConnection} store=${store} />
  </${Screen}>`;
}

export function Chart({ store }) {
  const [summary, setSummary] = useState(null);
  const [failed, setFailed] = useState(false);
  const patient = store.state.patient;
  useEffect(() => {
    (async () => {
      const key = `summary:${patient}`;
      try {
        const fresh = await api.get(`patients/${patient}/summary/`, { query: { days: 28 } });
        await kv.set(key, fresh);
        setSummary(fresh);
      } catch {
        const kept = await kv.get(key);
        if (kept) setSummary(kept); else setFailed(true);
      }
    })();
  }, [patient]);
  if (!canRead(store)) return html`<${Screen} title=${t("chart")} store=${store}><p>${t("no_view_right")}</p></${Screen}>`;
  const days = (summary && summary.days) || [];
  const width = 320;
  const height = 160;
  const step = days.length ? width / days.length : width;
  return html`<${Screen} title=${t("chart")} store=${store}>
    ${failed && html`<p>${t("needs_connection")}</p>`}
    ${summary && html`
      <figure>
        <svg viewBox=${`0 0 ${width} ${height + 20}`} role="img" aria-labelledby="chart-caption" class="chart">
          ${[0, 5, 10].map((v) => html`<line x1="0" x2=${width} y1=${height - (v * height) / 10} y2=${height - (v * height) / 10} class="grid" />`)}
          ${days.map((day, i) => day.pain_worst === null ? null : html`<rect x=${i * step + 1} width=${Math.max(step - 2, 1)} y=${height - (day.pain_worst * height) / 10} height=${(day.pain_worst * height) / 10} class=${day.pain_worst >= 7 ? "bar high" : "bar"} />`)}
          <text x="0" y=${height + 16} class="axis">${days.length ? formatDay(days[0].date) : ""}</text>
          <text x=${width} y=${height + 16} text-anchor="end" class="axis">${days.length ? formatDay(days[days.length - 1].date) : ""}</text>
        </svg>
        <figcaption id="chart-caption">${t("chart_caption", { n: summary.adherence ? summary.adherence.days_with_checkin : 0 })}</figcaption>
      </figure>
      <details><summary>${t("chart_as_table")}</summary>
        <table><thead><tr><th scope="col">${t("day")}</th><th scope="col">${t("worst_pain")}</th></tr></thead>
          <tbody>${days.filter((d) => d.pain_worst !== null).map((d) => html`<tr><td>${formatDay(d.date)}</td><td>${d.pain_worst}</td></tr>`)}</tbody></table>
      </details>`}
  </${Screen}>`;
}

function formatDay(date) {
  return new Date(`${date}T12:00:00`).toLocaleDateString(document.documentElement.lang, { day: "numeric", month: "short" });
}

