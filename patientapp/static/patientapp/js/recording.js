// Saving a record: into the outbox at once, then a sync attempt; a red flag goes to the
// safety screen before anything touches the network.
import { t } from "./i18n.js";
import * as outbox from "./outbox.js";
import { go, refreshCounts, store as globalStore, syncNow } from "./store.js";

export async function afterSave(store, type, fields) {
  const patient = store.state.me.role === "patient" ? null : store.state.patient;
  const body = outbox.newRecord(type, fields, patient);
  const flags = type === "checkin" ? fields.red_flags || [] : [];
  if (flags.length) {
    store.set({ safety: { flags, id: body.id } });
    go("/safety");
  }
  await outbox.save(type, body, store.state.patient, store.state.me.id);
  await refreshCounts();
  if (!flags.length) {
    globalStore.set({ flash: t("saved") });
    go("/");
  }
  syncNow();
  return body;
}
