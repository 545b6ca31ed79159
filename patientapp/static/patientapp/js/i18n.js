// App strings come from the server's translation catalog (/app/i18n/<lang>.json, made
// from the same .po files as every other text), never written inline.
let strings = {};
let current = "en";
export const LANGUAGES = ["en", "it"];

export async function loadStrings(language) {
  const lang = LANGUAGES.includes(language) ? language : "en";
  const response = await fetch(`/app/i18n/${lang}.json`);
  strings = await response.json();
  current = lang;
  document.documentElement.lang = lang;
  return lang;
}

export function t(key, params) {
  let text = strings[key] ?? key;
  if (params) for (const [name, value] of Object.entries(params)) text = text.replaceAll(`%(${name})s`, String(value));
  return text;
}

export const language = () => current;

export function formatMoment(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(current, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}

export function preferredLanguage() {
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = tag.slice(0, 2).toLowerCase();
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}
