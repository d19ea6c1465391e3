// The pages' words. Each language is one catalog, /assets/lang-<code>.json, with the same
// keys as English; a page asks for the first of the browser's languages that has one and
// falls back to English, key by key. Adding a language is adding its file and its code here.
export const languages = ['en'];

let catalog = {};
let fallback = {};
let lang = 'en';

function pick() {
  for (const want of navigator.languages || [navigator.language || 'en']) {
    const code = String(want).toLowerCase().split('-')[0];
    if (languages.includes(code)) return code;
  }
  return 'en';
}

async function fetchCatalog(code) {
  const res = await fetch(`/assets/lang-${code}.json`, { cache: 'no-cache' });
  if (!res.ok) throw new Error(`catalog ${code}: ${res.status}`);
  return res.json();
}

// load reads the catalog, sets the document's language and fills every element that names
// a key: data-i18n (its text), data-i18n-label (its aria-label).
export async function load() {
  lang = pick();
  fallback = await fetchCatalog('en');
  catalog = lang === 'en' ? fallback : await fetchCatalog(lang).catch(() => fallback);
  document.documentElement.lang = lang;
  translate(document);
  return lang;
}

export function translate(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
}

function lookup(cat, key) {
  let v = cat;
  for (const part of key.split('.')) {
    if (v == null || typeof v !== 'object') return undefined;
    v = v[part];
  }
  return typeof v === 'string' ? v : undefined;
}

// has tells whether key has words (a code the catalog has no message for falls back to a
// general one).
export function has(key) {
  return lookup(catalog, key) !== undefined || lookup(fallback, key) !== undefined;
}

// t is the words of key with {name} replaced by vars.name; an unknown key is shown as itself
// so that a missing message is visible rather than blank.
export function t(key, vars = {}) {
  const s = lookup(catalog, key) ?? lookup(fallback, key) ?? key;
  return s.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

// date is a calendar day as the reader says it. Due dates are the end of a day in UTC, so
// they are shown in UTC: a reader east of Greenwich would otherwise see the next day.
export function date(iso) {
  if (!iso) return '';
  return new Intl.DateTimeFormat(lang, { dateStyle: 'long', timeZone: 'UTC' }).format(new Date(iso));
}

// dateTime is a moment in the reader's own time zone.
export function dateTime(iso) {
  if (!iso) return '';
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}
