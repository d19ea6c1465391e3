// Calls to the service's API from the pages: JSON in and out, problem+json (RFC 9457)
// errors turned into a Problem the page can explain.

export class Problem extends Error {
  constructor(status, body, retryAfter) {
    super(body?.detail || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code || (status === 0 ? 'network' : 'unknown');
    this.fields = Array.isArray(body?.errors) ? body.errors : [];
    this.retryAfter = retryAfter;
  }
}

// idempotencyKey is a fresh random key for one POST, so that a retried submission is
// answered once (the API replays the first answer).
export function idempotencyKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// call sends one request. opts.token becomes the Bearer header; opts.body is sent as JSON
// (opts.type overrides its media type, e.g. a merge patch).
export async function call(method, url, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  if (opts.idempotent) headers['Idempotency-Key'] = opts.idempotent;
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = opts.type || 'application/json';
    body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(url, { method, headers, body, cache: 'no-store', credentials: 'omit', redirect: 'error' });
  } catch {
    throw new Problem(0, null);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const ra = Number(res.headers.get('Retry-After'));
    throw new Problem(res.status, data, Number.isFinite(ra) && ra > 0 ? ra : 0);
  }
  return data;
}

// el builds an element: el('p', {class: 'hint'}, 'text', child...). Text is always set as
// text, never as HTML, so nothing the API returns can become markup.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) {
    if (c == null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
