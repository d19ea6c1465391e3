// The operator console: the request queue and each request's record, timeline and actions,
// policies, marketplace sites, tenant settings and the audit trail, all through the API with
// the tenant's admin key. The key is asked once per tab and kept in sessionStorage only: it
// goes in the Authorization header, never in a URL, a cookie or localStorage.
import { call, el, idempotencyKey, Problem } from './api.js';
import { load, t, has, date, dateTime } from './i18n.js';

const keyStore = 'gdpr.console.key';
const $ = (id) => document.getElementById(id);
const statuses = ['pending_verification', 'verified', 'awaiting_approval', 'processing', 'completed', 'rejected', 'failed', 'expired'];
const types = ['access', 'portability', 'erasure', 'rectification', 'restriction', 'objection'];
const closed = new Set(['completed', 'rejected', 'failed', 'expired']);
const reasons = ['manifestly_unfounded', 'excessive', 'identity_unverified', 'other'];
const day = 24 * 60 * 60 * 1000;

let key = sessionStorage.getItem(keyStore) || '';
let tenant = null;    // the settings, as GET /v1/tenant answers them
let routes = new Set(); // "POST /v1/requests/{id}/approve", … from the API's own description
let queueCursor = '';
let auditCursor = '';

const api = (method, url, opts = {}) => call(method, url, { ...opts, token: key });

function explain(err) {
  if (!(err instanceof Problem)) return t('common.errors.unknown', { status: '?' });
  if (err.code === 'unauthenticated') { signOut(); return t('console.errors.unauthenticated'); }
  if (err.code === 'rate_limited') return t('common.errors.rate_limited_later');
  for (const k of [`console.errors.${err.code}`, `common.errors.${err.code}`]) if (has(k)) return t(k);
  return err.message && err.status < 500 ? err.message : t('common.errors.unknown', { status: err.status });
}

// say shows one message: an error (alert, announced at once) or a confirmation (status).
function say(message, isError) {
  $('alert').replaceChildren(isError && message ? el('p', {}, message) : '');
  $('status').replaceChildren(!isError && message ? el('p', {}, message) : '');
}
const fail = (err) => say(explain(err), true);

function fieldList(err) {
  return err.fields?.length ? el('ul', {}, ...err.fields.map((f) => el('li', {}, `${f.field}: ${f.message}`))) : null;
}

// ---- signing in ----

async function signIn(ev) {
  ev.preventDefault();
  const input = $('key');
  const k = input.value.trim();
  if (!k) { say(t('console.signin.missing'), true); input.focus(); return; }
  key = k;
  try {
    await start();
    sessionStorage.setItem(keyStore, k);
    input.value = '';
  } catch (err) {
    key = '';
    say(err.code === 'forbidden' ? t('console.signin.forbidden')
      : err.code === 'unauthenticated' ? t('console.signin.unauthenticated') : explain(err), true);
    input.focus();
  }
}

function signOut() {
  key = '';
  sessionStorage.removeItem(keyStore);
  $('app').hidden = true;
  $('whoami').hidden = true;
  $('signin').hidden = false;
}

// start reads the tenant's settings (which proves the key) and the API's routes, then shows
// the console.
async function start() {
  tenant = await api('GET', '/v1/tenant');
  try {
    const spec = await call('GET', '/v1/openapi.json');
    routes = new Set(Object.entries(spec.paths || {}).flatMap(([p, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`)));
  } catch {
    routes = new Set();
  }
  say('');
  $('signin').hidden = true;
  $('app').hidden = false;
  $('whoami').hidden = false;
  $('signed-in').textContent = t('console.signin.as');
  $('queue-intro').textContent = t('console.queue.intro', { days: soonDays() });
  route();
}

// soonDays is how near its due date a request counts as due soon: the tenant's first
// reminder (reminder_days, default [7, 2]), so the console and the DPO's reminders agree.
function soonDays() {
  const days = tenant?.reminder_days;
  return Array.isArray(days) && days.length ? Math.max(...days) : 7;
}

// ---- sections ----

const sections = ['requests', 'policies', 'sites', 'settings', 'audit'];
const loaders = { requests: loadQueue, policies: loadPolicies, sites: loadSites, settings: loadSettings, audit: loadAudit };

function route() {
  if (!key) return;
  const name = sections.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'requests';
  for (const s of sections) $(s).hidden = s !== name;
  for (const a of document.querySelectorAll('nav.tabs a')) {
    if (a.getAttribute('href') === `#${name}`) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  loaders[name]();
}

// ---- the queue ----

function flags(r) {
  const due = new Date(r.due_at).getTime();
  if (closed.has(r.status)) return [];
  if (r.overdue || due < Date.now()) return ['overdue'];
  if (due - Date.now() < soonDays() * day) return ['soon'];
  return [];
}

async function loadQueue(more) {
  const q = new URLSearchParams({ limit: '50' });
  if ($('f-status').value) q.set('status', $('f-status').value);
  if ($('f-type').value) q.set('type', $('f-type').value);
  if (more && queueCursor) q.set('cursor', queueCursor);
  try {
    const page = await api('GET', `/v1/requests?${q}`);
    queueCursor = page.next_cursor || '';
    $('queue-more').hidden = !queueCursor;
    let body = $('queue-body');
    if (!more || !body) {
      body = el('tbody', { id: 'queue-body' });
      $('queue').replaceChildren(el('table', {},
        el('caption', {}, t('console.queue.caption')),
        el('thead', {}, el('tr', {}, ...['due', 'id', 'type', 'status', 'flags', 'received'].map((c) => el('th', { scope: 'col' }, t(`console.queue.${c}`))))),
        body));
    }
    for (const r of page.items) {
      const f = flags(r);
      body.append(el('tr', { class: f[0] || null, 'data-id': r.id },
        el('td', {}, date(r.due_at)),
        el('td', { class: 'mono' }, el('button', { type: 'button', class: 'secondary', 'aria-label': t('console.queue.open', { id: r.id }), onclick: () => openRequest(r.id) }, r.id)),
        el('td', {}, r.type),
        el('td', {}, r.status),
        el('td', {}, ...f.map((x) => el('span', { class: `badge ${x}` }, t(`console.queue.${x}`))),
          r.extended ? el('span', { class: 'badge plain' }, t('console.queue.extended')) : null),
        el('td', {}, dateTime(r.received_at))));
    }
    if (!body.children.length) $('queue').replaceChildren(el('p', {}, t('console.queue.empty')));
  } catch (err) { fail(err); }
}

// ---- one request ----

async function openRequest(id) {
  try {
    renderRequest(await api('GET', `/v1/requests/${encodeURIComponent(id)}`));
    const h = $('detail-title');
    h.tabIndex = -1;
    h.focus();
  } catch (err) { fail(err); }
}

function renderRequest(r) {
  const facts = el('dl', { class: 'facts' });
  const fact = (k, v) => { if (v !== undefined && v !== null && v !== '') facts.append(el('dt', {}, t(`console.request.${k}`)), el('dd', {}, v)); };
  fact('type', r.type);
  fact('status', r.status);
  fact('subject', r.subject_id ? el('span', { class: 'mono' }, r.subject_id) : null);
  fact('received', dateTime(r.received_at));
  fact('verified', dateTime(r.verified_at));
  const f = flags(r);
  fact('due', el('span', {}, `${date(r.due_at)} `, ...f.map((x) => el('span', { class: `badge ${x}` }, t(`console.queue.${x}`)))));
  fact('completed', dateTime(r.completed_at));
  fact('extended', r.extended ? t('common.yes') : t('common.no'));
  fact('extension_reason', r.extension_reason);
  fact('note', r.note);
  if (r.rectification) fact('rectification', Object.entries(r.rectification).map(([k, v]) => `${k}: ${v}`).join(', '));
  if (r.lift) fact('lift', t('common.yes'));
  if (r.rejection) fact('rejection', `${t(`console.request.reasons.${r.rejection.reason}`)}${r.rejection.detail ? ` — ${r.rejection.detail}` : ''}`);
  fact('failure', r.failure);
  fact('attempts', r.attempts ? String(r.attempts) : '');

  const timeline = el('ol', { class: 'timeline' }, ...(r.timeline || []).map((e) => el('li', {},
    el('time', { datetime: e.at }, dateTime(e.at)),
    el('strong', {}, e.event), ` · ${e.actor}`, e.detail ? el('div', {}, e.detail) : null)));

  const deliveries = r.deliveries?.length
    ? el('div', { class: 'table-wrap' }, el('table', {},
      el('caption', {}, t('console.request.deliveries')),
      el('thead', {}, el('tr', {}, ...['site', 'event', 'state', 'attempts', 'last_error'].map((c) => el('th', { scope: 'col' }, t(`console.request.${c}`))))),
      el('tbody', {}, ...r.deliveries.map((d) => el('tr', {},
        el('td', {}, d.name), el('td', {}, d.event),
        el('td', {}, el('span', { class: `badge ${d.state === 'confirmed' ? 'ok' : d.state === 'failed' ? 'overdue' : 'plain'}` }, d.state)),
        el('td', {}, String(d.attempts)), el('td', {}, d.last_error || '')))))) 
    : el('p', { class: 'hint' }, t('console.request.deliveries_none'));

  $('detail').replaceChildren(
    el('h3', { id: 'detail-title' }, t('console.request.title', { id: r.id })),
    facts,
    el('h3', {}, t('console.request.actions')),
    ...actions(r),
    el('h3', {}, t('console.request.timeline')),
    timeline,
    el('h3', {}, t('console.request.deliveries')),
    deliveries);
}

// actions are the forms of what an operator may do now; the API decides, the page only
// leaves out what cannot apply.
function actions(r) {
  const out = [];
  const id = encodeURIComponent(r.id);
  const act = async (method, path, body, done) => {
    try {
      const res = await api(method, `/v1/requests/${id}/${path}`, { body, idempotent: idempotencyKey() });
      say(done(res));
      await openRequest(r.id);
      loadQueue();
    } catch (err) { fail(err); }
  };
  if (r.status === 'awaiting_approval' && routes.has('POST /v1/requests/{id}/approve')) {
    out.push(el('div', { class: 'card' }, el('p', { class: 'hint' }, t('console.request.approve_hint')),
      el('button', { type: 'button', id: 'approve', onclick: () => act('POST', 'approve', {}, () => t('console.request.approved')) }, t('console.request.approve'))));
  }
  if (!closed.has(r.status) && !r.extended) {
    const reason = el('textarea', { id: 'extend-reason', required: true, maxlength: '1000', 'aria-describedby': 'extend-hint' });
    out.push(el('form', { class: 'card', id: 'extend-form', novalidate: true, onsubmit: (ev) => {
      ev.preventDefault();
      if (!reason.value.trim()) { reason.setAttribute('aria-invalid', 'true'); reason.focus(); return; }
      act('POST', 'extend', { reason: reason.value.trim() }, (res) => t('console.request.extended_ok', { date: date(res.due_at) }));
    } },
    el('label', { for: 'extend-reason' }, t('console.request.extend_reason')),
    el('p', { class: 'hint', id: 'extend-hint' }, t('console.request.extend_hint')),
    reason,
    el('div', { class: 'actions' }, el('button', { type: 'submit' }, t('console.request.extend')))));
  }
  if (!closed.has(r.status)) {
    const why = el('select', { id: 'reject-reason' }, ...reasons.map((x) => el('option', { value: x }, t(`console.request.reasons.${x}`))));
    const detail = el('textarea', { id: 'reject-detail', maxlength: '1000' });
    out.push(el('form', { class: 'card', id: 'reject-form', novalidate: true, onsubmit: (ev) => {
      ev.preventDefault();
      const body = { reason: why.value };
      if (detail.value.trim()) body.detail = detail.value.trim();
      act('POST', 'reject', body, () => t('console.request.rejected_ok'));
    } },
    el('label', { for: 'reject-reason' }, t('console.request.reject_reason')), why,
    el('label', { for: 'reject-detail' }, t('console.request.reject_detail')), detail,
    el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'danger' }, t('console.request.reject')))));
  }
  if (r.status === 'failed' || r.deliveries?.some((d) => d.state === 'failed')) {
    out.push(el('div', { class: 'card' }, el('p', { class: 'hint' }, t('console.request.retry_hint')),
      el('button', { type: 'button', id: 'retry', onclick: () => act('POST', 'retry', undefined, () => t('console.request.retried_ok')) }, t('console.request.retry'))));
  }
  if (!out.length) out.push(el('p', { class: 'hint' }, t('common.none')));
  return out;
}

// ---- policies (where the service has the routes) ----

async function loadPolicies() {
  const have = routes.has('GET /v1/policies') && routes.has('POST /v1/policies');
  $('policies-missing').hidden = have;
  $('policies-body').hidden = !have;
  if (!have) return;
  $('policies-intro').textContent = t('console.policies.intro', { days: tenant?.notice_period_days ?? 30 });
  try {
    const page = await api('GET', '/v1/policies?limit=50');
    const items = page.items || [];
    if (!items.length) { $('policy-list').replaceChildren(el('p', {}, t('console.policies.empty'))); return; }
    const list = el('ul', {});
    $('policy-list').replaceChildren(list);
    for (const p of items) {
      const li = el('li', {}, el('strong', {}, p.version), ` · ${date(p.effective_at)}${p.material ? ' · material' : ''}`);
      list.append(li);
      if (routes.has('GET /v1/policies/{version}/notifications')) {
        api('GET', `/v1/policies/${encodeURIComponent(p.version)}/notifications`).then((run) => {
          li.append(el('div', {},
            el('progress', { max: String(run.total || 1), value: String(run.sent || 0), 'aria-label': t('console.policies.progress') }),
            ' ', t('console.policies.run', run)));
        }, () => {});
      }
    }
  } catch (err) { fail(err); }
}

async function publish(ev) {
  ev.preventDefault();
  const local = $('p-effective').value;
  const body = {
    version: $('p-version').value.trim(), url: $('p-url').value.trim(), summary: $('p-summary').value.trim(),
    effective_at: local ? new Date(local).toISOString().replace(/\.\d{3}Z$/, 'Z') : '', material: $('p-material').checked,
  };
  try {
    await api('POST', '/v1/policies', { body, idempotent: idempotencyKey() });
    say(t('console.policies.published', { version: body.version }));
    ev.target.reset();
    loadPolicies();
  } catch (err) {
    fail(err);
    const list = fieldList(err);
    if (list) $('alert').append(list);
  }
}

// ---- marketplace sites ----

async function loadSites() {
  try {
    const page = await api('GET', '/v1/systems');
    const items = page.items || [];
    if (!items.length) { $('site-list').replaceChildren(el('p', {}, t('console.sites.empty'))); return; }
    $('site-list').replaceChildren(el('table', {},
      el('caption', {}, t('console.sites.caption')),
      el('thead', {}, el('tr', {}, ...['name', 'url', 'events', 'created', 'actions'].map((c) => el('th', { scope: 'col' }, t(`console.sites.${c}`))))),
      el('tbody', {}, ...items.map((s) => el('tr', {},
        el('td', {}, s.name), el('td', { class: 'mono' }, s.url), el('td', {}, (s.events || []).join(', ')),
        el('td', {}, dateTime(s.created_at)),
        el('td', {}, el('div', { class: 'actions' },
          el('button', { type: 'button', class: 'secondary', 'aria-label': `${t('console.sites.rotate')}: ${s.name}`, onclick: () => rotate(s) }, t('console.sites.rotate')),
          el('button', { type: 'button', class: 'danger', 'aria-label': `${t('console.sites.remove')}: ${s.name}`, onclick: () => removeSite(s) }, t('console.sites.remove')))))))));
  } catch (err) { fail(err); }
}

function showSecret(s) {
  $('secret').replaceChildren(el('div', { class: 'secret' },
    el('h3', {}, t('console.sites.secret_title', { name: s.name })),
    el('code', { id: 'secret-value' }, s.secret),
    el('p', {}, t('console.sites.secret_note'))));
}

async function register(ev) {
  ev.preventDefault();
  const body = {
    name: $('s-name').value.trim(), url: $('s-url').value.trim(),
    events: [...document.querySelectorAll('input[name=events]:checked')].map((x) => x.value),
  };
  try {
    const s = await api('POST', '/v1/systems', { body, idempotent: idempotencyKey() });
    say('');
    showSecret(s);
    ev.target.reset();
    loadSites();
  } catch (err) {
    fail(err);
    const list = fieldList(err);
    if (list) $('alert').append(list);
  }
}

async function rotate(s) {
  try {
    showSecret(await api('POST', `/v1/systems/${encodeURIComponent(s.id)}/rotate-secret`, { idempotent: idempotencyKey() }));
    say('');
  } catch (err) { fail(err); }
}

async function removeSite(s) {
  if (!window.confirm(t('console.sites.remove_confirm', { name: s.name }))) return;
  try {
    await api('DELETE', `/v1/systems/${encodeURIComponent(s.id)}`);
    $('secret').replaceChildren();
    say(t('console.sites.removed', { name: s.name }));
    loadSites();
  } catch (err) { fail(err); }
}

// ---- settings ----

async function loadSettings() {
  try {
    tenant = await api('GET', '/v1/tenant');
    $('settings-json').value = JSON.stringify(tenant, null, 2);
    $('settings-errors').replaceChildren();
  } catch (err) { fail(err); }
}

// mergePatch is the RFC 7396 patch that turns from into to: changed members, null for
// removed ones; arrays are replaced whole.
function mergePatch(from, to) {
  const isObj = (v) => v && typeof v === 'object' && !Array.isArray(v);
  if (!isObj(from) || !isObj(to)) return to;
  const patch = {};
  for (const k of Object.keys(from)) if (!(k in to)) patch[k] = null;
  for (const [k, v] of Object.entries(to)) {
    if (isObj(v) && isObj(from[k])) {
      const sub = mergePatch(from[k], v);
      if (Object.keys(sub).length) patch[k] = sub;
    } else if (JSON.stringify(v) !== JSON.stringify(from[k])) patch[k] = v;
  }
  return patch;
}

async function saveSettings(ev) {
  ev.preventDefault();
  const area = $('settings-json');
  let next;
  try { next = JSON.parse(area.value); } catch (e) {
    area.setAttribute('aria-invalid', 'true');
    say(t('console.settings.bad_json', { error: e.message }), true);
    area.focus();
    return;
  }
  area.removeAttribute('aria-invalid');
  const patch = mergePatch(tenant, next);
  if (!Object.keys(patch).length) { say(t('console.settings.unchanged')); return; }
  try {
    tenant = await api('PATCH', '/v1/tenant', { body: patch, type: 'application/merge-patch+json' });
    area.value = JSON.stringify(tenant, null, 2);
    $('settings-errors').replaceChildren();
    say(t('console.settings.saved'));
  } catch (err) {
    fail(err);
    $('settings-errors').replaceChildren(fieldList(err) || '');
  }
}

// ---- audit ----

async function loadAudit(more) {
  const q = new URLSearchParams({ limit: '50' });
  if ($('a-request').value.trim()) q.set('request_id', $('a-request').value.trim());
  if ($('a-subject').value.trim()) q.set('subject_id', $('a-subject').value.trim());
  if (more && auditCursor) q.set('cursor', auditCursor);
  try {
    const page = await api('GET', `/v1/audit?${q}`);
    auditCursor = page.next_cursor || '';
    $('audit-more').hidden = !auditCursor;
    let body = $('audit-body');
    if (!more || !body) {
      body = el('tbody', { id: 'audit-body' });
      $('audit-list').replaceChildren(el('table', {},
        el('caption', {}, t('console.audit.caption')),
        el('thead', {}, el('tr', {}, ...['seq', 'at', 'actor', 'action', 'subject', 'request_id', 'detail'].map((c) => el('th', { scope: 'col' }, t(`console.audit.${c}`))))),
        body));
    }
    for (const e of page.items) {
      body.append(el('tr', {},
        el('td', {}, String(e.seq)), el('td', {}, dateTime(e.at)), el('td', {}, e.actor), el('td', {}, e.action),
        el('td', { class: 'mono' }, e.subject || ''), el('td', { class: 'mono' }, e.request_id || ''),
        el('td', {}, Object.entries(e.detail || {}).map(([k, v]) => `${k}: ${v}`).join(', '))));
    }
    if (!body.children.length) $('audit-list').replaceChildren(el('p', {}, t('console.audit.empty')));
  } catch (err) { fail(err); }
}

async function verifyAudit() {
  try {
    const v = await api('GET', '/v1/audit/verify');
    $('audit-result').replaceChildren(el('p', { id: 'audit-verdict', class: `notice ${v.ok ? 'ok' : 'error'}` },
      v.ok ? t('console.audit.ok', { entries: v.entries }) : t('console.audit.broken', { seq: v.broken_seq, entries: v.entries })));
  } catch (err) { fail(err); }
}

// ---- start ----

function options(select, values, label) {
  select.replaceChildren(el('option', { value: '' }, t('console.queue.any')), ...values.map((v) => el('option', { value: v }, label(v))));
}

async function main() {
  await load();
  document.title = t('console.title');
  options($('f-status'), statuses, (s) => s);
  options($('f-type'), types, (s) => s);
  $('signin-form').addEventListener('submit', signIn);
  $('signout').addEventListener('click', () => { signOut(); say(''); $('key').focus(); });
  $('queue-form').addEventListener('submit', (ev) => { ev.preventDefault(); loadQueue(false); });
  $('queue-more').addEventListener('click', () => loadQueue(true));
  $('policy-form').addEventListener('submit', publish);
  $('site-form').addEventListener('submit', register);
  $('settings-form').addEventListener('submit', saveSettings);
  $('audit-form').addEventListener('submit', (ev) => { ev.preventDefault(); loadAudit(false); });
  $('audit-more').addEventListener('click', () => loadAudit(true));
  $('audit-verify').addEventListener('click', verifyAudit);
  window.addEventListener('hashchange', route);
  if (key) {
    try { await start(); } catch (err) { signOut(); say(explain(err), true); }
  } else {
    $('signin').hidden = false;
  }
  document.body.dataset.ready = 'true';
}

main();
