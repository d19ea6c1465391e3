// The privacy center: a data subject picks a right, confirms with the emailed code, and
// follows the request to its end (and its download). Every rule is the API's: this page only
// asks and shows. The request's access token is kept for this tab only (sessionStorage).
import { call, el, idempotencyKey, Problem } from './api.js';
import { load, t, has, date, dateTime } from './i18n.js';

const tenant = decodeURIComponent(location.pathname.split('/')[2] || '');
const base = `/v1/public/${encodeURIComponent(tenant)}`;
const storeKey = `gdpr.privacy.${tenant}`;
const $ = (id) => document.getElementById(id);

// The rights as the form offers them; "lift" is a restriction request with lift:true.
const rights = ['access', 'portability', 'erasure', 'rectification', 'restriction', 'lift', 'objection'];
const rectifyFields = [
  ['first_name', 'text', 'given-name'], ['last_name', 'text', 'family-name'], ['username', 'text', 'username'],
  ['email', 'email', 'email'], ['phone', 'tel', 'tel'], ['company', 'text', 'organization'],
];
// States in which the request still moves on by itself: the page asks again while in one.
const moving = new Set(['verified', 'processing', 'awaiting_approval']);
const pollEvery = 2000;
const pollFor = 15 * 60 * 1000;

function saved() {
  try { return JSON.parse(sessionStorage.getItem(storeKey)) || null; } catch { return null; }
}
function save(v) {
  if (v) sessionStorage.setItem(storeKey, JSON.stringify(v)); else sessionStorage.removeItem(storeKey);
}

// explain turns a problem into words a person understands; field errors go to their fields.
function explain(err) {
  if (!(err instanceof Problem)) return t('common.errors.unknown', { status: '?' });
  if (err.code === 'rate_limited') {
    return err.retryAfter ? t('common.errors.rate_limited', { minutes: Math.max(1, Math.ceil(err.retryAfter / 60)) })
      : t('common.errors.rate_limited_later');
  }
  for (const key of [`privacy.errors.${err.code}`, `common.errors.${err.code}`]) if (has(key)) return t(key);
  return t('common.errors.unknown', { status: err.status });
}

function alertBox(message) {
  const box = $('alert');
  box.replaceChildren(message ? el('p', {}, message) : '');
  if (message) box.scrollIntoView({ block: 'nearest' });
}

function show(section) {
  for (const id of ['ask', 'verify', 'status']) $(id).hidden = id !== section;
}

// focusHeading moves focus to a section's heading after it replaced another, so a screen
// reader or keyboard user continues there.
function focusHeading(id) {
  const h = $(id);
  h.tabIndex = -1;
  h.focus();
}

// ---- the policy in effect (only where the service has the route) ----

async function policy() {
  let p;
  try {
    p = await call('GET', `${base}/policy`);
  } catch (err) {
    // not_found: the service has no such route (or no version is published): no section.
    if (err instanceof Problem && err.code === 'tenant_not_found') return false;
    return true;
  }
  const body = $('policy-body');
  const version = (v, key) => {
    const out = [el('p', {}, t(key, { version: v.version, date: date(v.effective_at) }))];
    if (v.summary) out.push(el('p', {}, t('privacy.policy.summary', { summary: v.summary })));
    if (v.material && key === 'privacy.policy.next') out.push(el('p', {}, t('privacy.policy.material')));
    if (v.url && /^https?:/i.test(v.url)) out.push(el('p', {}, el('a', { href: v.url, rel: 'noopener' }, t('privacy.policy.read', { version: v.version }))));
    return out;
  };
  body.replaceChildren(
    ...(p?.current ? version(p.current, 'privacy.policy.current') : [el('p', {}, t('privacy.policy.none_yet'))]),
    ...(p?.next ? version(p.next, 'privacy.policy.next') : []),
  );
  $('policy').hidden = false;
  return true;
}

// ---- asking ----

function buildForm() {
  const list = $('rights');
  for (const r of rights) {
    const id = `right-${r}`;
    list.append(el('div', { class: 'choice' },
      el('input', { type: 'radio', name: 'right', id, value: r, 'aria-describedby': `${id}-what`, required: true }),
      el('label', { for: id }, t(`privacy.rights.${r}.label`),
        el('span', { class: 'what', id: `${id}-what` }, t(`privacy.rights.${r}.what`)))));
  }
  const fields = $('rectify-fields');
  for (const [name, type, auto] of rectifyFields) {
    const id = `fix-${name}`;
    fields.append(
      el('label', { for: id }, t(`privacy.fields.${name}`)),
      el('input', { id, name, type, autocomplete: auto, 'aria-describedby': `${id}-error` }),
      el('p', { class: 'field-error', id: `${id}-error`, hidden: true }));
  }
  list.addEventListener('change', () => {
    $('rectify').hidden = chosen() !== 'rectification';
  });
  $('ask-form').addEventListener('submit', submit);
}

function chosen() {
  return document.querySelector('input[name=right]:checked')?.value || '';
}

function clearFieldErrors(form) {
  for (const e of form.querySelectorAll('.field-error')) { e.hidden = true; e.textContent = ''; }
  for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
}

// fieldError marks input (by id) with message; the first marked field gets the focus.
function fieldError(inputId, message, first) {
  const input = $(inputId);
  const err = $(`${inputId}-error`);
  if (!input) return first;
  input.setAttribute('aria-invalid', 'true');
  if (err) { err.textContent = message; err.hidden = false; }
  if (!first) input.focus();
  return true;
}

// fieldOf maps an API field name (rectification.phone, email) to the input showing it.
function fieldOf(name) {
  if (name.startsWith('rectification.')) return `fix-${name.slice('rectification.'.length)}`;
  if (name === 'rectification') return 'fix-first_name';
  return name;
}

async function submit(ev) {
  ev.preventDefault();
  const form = ev.target;
  clearFieldErrors(form);
  alertBox('');
  const right = chosen();
  const email = $('email').value.trim();
  if (!right) {
    alertBox(t('privacy.ask.right_missing'));
    $(`right-${rights[0]}`).focus();
    return;
  }
  if (!email) {
    fieldError('email', t('privacy.ask.email_missing'));
    return;
  }
  const body = { type: right === 'lift' ? 'restriction' : right, email };
  if (right === 'lift') body.lift = true;
  const note = $('note').value.trim();
  if (note) body.note = note;
  if (right === 'rectification') {
    const fix = {};
    for (const [name] of rectifyFields) {
      const v = $(`fix-${name}`).value.trim();
      if (v) fix[name] = v;
    }
    if (Object.keys(fix).length === 0) {
      fieldError('fix-first_name', t('privacy.ask.rectify_missing'));
      return;
    }
    body.rectification = fix;
  }
  const button = $('ask-submit');
  button.disabled = true;
  button.textContent = t('privacy.ask.sending');
  try {
    const r = await call('POST', `${base}/requests`, { body, idempotent: idempotencyKey() });
    save({ id: r.id, type: r.type, received_at: r.received_at, due_at: r.due_at });
    form.reset();
    $('rectify').hidden = true;
    showVerify();
  } catch (err) {
    alertBox(explain(err));
    let first = false;
    for (const f of err.fields || []) first = fieldError(fieldOf(f.field), f.message, first);
  } finally {
    button.disabled = false;
    button.textContent = t('privacy.ask.submit');
  }
}

// ---- confirming ----

function showVerify() {
  show('verify');
  $('code').value = '';
  focusHeading('verify-title');
}

async function verify(ev) {
  ev.preventDefault();
  alertBox('');
  const req = saved();
  const code = $('code').value.trim();
  if (!req) return restart();
  if (!code) {
    $('code').setAttribute('aria-invalid', 'true');
    alertBox(t('privacy.verify.code_missing'));
    $('code').focus();
    return;
  }
  $('code').removeAttribute('aria-invalid');
  const button = $('verify-submit');
  button.disabled = true;
  button.textContent = t('privacy.verify.checking');
  try {
    const r = await call('POST', `${base}/requests/${encodeURIComponent(req.id)}/verify`, { body: { code }, idempotent: idempotencyKey() });
    save({ ...req, token: r.access_token });
    showStatus(true);
  } catch (err) {
    alertBox(explain(err));
    if (err.code === 'invalid_code') {
      $('code').setAttribute('aria-invalid', 'true');
      $('code').select();
      $('code').focus();
    }
  } finally {
    button.disabled = false;
    button.textContent = t('privacy.verify.submit');
  }
}

// ---- following ----

let timer = 0;
let pollUntil = 0;

function showStatus(focus) {
  show('status');
  if (focus) focusHeading('status-title');
  pollUntil = Date.now() + pollFor;
  refresh();
}

function renderStatus(s) {
  const facts = el('dl', { class: 'facts' });
  const fact = (k, v) => { if (v) facts.append(el('dt', {}, t(`privacy.status.${k}`)), el('dd', {}, v)); };
  fact('type', t(`privacy.types.${s.type}`));
  fact('state', t(`privacy.status.labels.${s.status}`));
  fact('received', dateTime(s.received_at));
  if (s.status !== 'completed' && s.status !== 'rejected' && s.status !== 'expired') fact('due', date(s.due_at));
  fact('completed', dateTime(s.completed_at));
  fact('reference', el('span', { class: 'mono' }, s.id));

  let words = t(`privacy.status.states.${s.status}`);
  const out = [];
  if (s.status === 'completed' && (s.type === 'access' || s.type === 'portability')) {
    words = s.download_url ? t('privacy.status.states.completed_export') : t('privacy.status.states.completed_no_link');
  }
  out.push(el('p', { id: 'status-words', class: `notice ${s.status === 'completed' ? 'ok' : 'info'}` }, words));
  if (s.download_url) {
    out.push(el('p', {}, el('a', { class: 'button', id: 'download', href: s.download_url, download: '' }, t('privacy.status.download'))),
      el('p', { class: 'hint' }, t('privacy.status.download_until', { date: dateTime(s.download_expires_at) })));
  }
  out.push(facts);
  $('status-live').replaceChildren(...out);
  $('status-live').dataset.status = s.status;
}

async function refresh() {
  clearTimeout(timer);
  const req = saved();
  if (!req?.token) return restart();
  try {
    const s = await call('GET', `${base}/requests/${encodeURIComponent(req.id)}`, { token: req.token });
    alertBox('');
    renderStatus(s);
    if (moving.has(s.status) && Date.now() < pollUntil) timer = setTimeout(refresh, pollEvery);
  } catch (err) {
    if (err.code === 'unauthenticated') {
      $('status-live').replaceChildren(el('p', { class: 'notice info' }, t('privacy.status.gone')));
      save(null);
      return;
    }
    alertBox(explain(err));
  }
}

function restart() {
  clearTimeout(timer);
  save(null);
  alertBox('');
  show('ask');
  focusHeading('ask-title');
}

async function main() {
  await load();
  document.title = `${t('privacy.title')} · ${tenant}`;
  $('tenant').textContent = t('privacy.tenant', { tenant });
  const exists = await policy();
  if (!exists) {
    // An address no tenant has: said at once, and nothing to fill in.
    alertBox(t('privacy.errors.tenant_not_found'));
    document.body.dataset.ready = 'true';
    return;
  }
  buildForm();
  $('verify-form').addEventListener('submit', verify);
  $('verify-restart').addEventListener('click', restart);
  $('status-restart').addEventListener('click', restart);
  $('status-refresh').addEventListener('click', () => { pollUntil = Date.now() + pollFor; refresh(); });
  const req = saved();
  if (req?.token) showStatus(false);
  else if (req?.id) show('verify');
  else show('ask');
  document.body.dataset.ready = 'true';
}

main();
