// common.js: what every page shares. `GP.api` (same-origin fetch with the
// session cookie; a 401 sends the user to /login?next=...), `GP.el` (builds
// DOM from text only: data never goes through innerHTML), time formatting,
// and the logout button.
'use strict';
(function () {
  const GP = (window.GP = window.GP || {});

  GP.loginUrl = () => '/login?next=' + encodeURIComponent(location.pathname + location.search);

  // Returns {ok, status, data}. Network failure: status 0, data null.
  // opts.raw: body sent as is (with opts.type as content-type);
  // opts.noRedirect: do not leave the page on 401.
  GP.api = async function (method, path, body, opts) {
    const o = opts || {};
    const init = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
    if (body !== undefined && body !== null) {
      if (o.raw) {
        init.body = body;
        init.headers['content-type'] = o.type || 'application/octet-stream';
      } else {
        init.body = JSON.stringify(body);
        init.headers['content-type'] = 'application/json';
      }
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (_) {
      return { ok: false, status: 0, data: null };
    }
    let data = null;
    try {
      data = await res.json();
    } catch (_) {
      data = null;
    }
    if (res.status === 401 && !o.noRedirect) {
      location.href = GP.loginUrl();
    }
    return { ok: res.ok, status: res.status, data };
  };

  // A message for a failed call, in the current language.
  GP.errorText = function (r) {
    if (r.status === 0) return GP.t('common.offline');
    const code = r.data && r.data.error;
    if (code === 'cross_origin' || code === 'wrong_content_type') return GP.t('common.cross_origin');
    if (code === 'too_large') return GP.t('common.too_large');
    if (code === 'policy_unreadable') return GP.t('common.policy_unreadable');
    if (r.status === 403) return GP.t('common.forbidden');
    const msg = r.data && r.data.message ? r.data.message : 'HTTP ' + r.status;
    return GP.t('common.error', { msg });
  };

  // el('td', {class: 'x', dataset: {id: 1}, onclick: fn}, 'text', child, ...)
  // Strings become text nodes; attributes are set as properties or
  // attributes, never as markup.
  GP.el = function (tag, attrs, ...children) {
    const n = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') n.className = v;
        else if (k === 'text') n.textContent = v;
        else if (k === 'dataset') Object.assign(n.dataset, v);
        else if (k.startsWith('on') && typeof v === 'function') n.addEventListener(k.slice(2), v);
        else if (k in n && typeof v !== 'string') n[k] = v;
        else n.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      n.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return n;
  };

  GP.clear = function (n) {
    while (n.firstChild) n.removeChild(n.firstChild);
    return n;
  };

  const pad = (x) => String(x).padStart(2, '0');

  // "2024-05-01T08:03:00+08:00" -> "05-01 08:03" (the browser's local time).
  GP.fmtTime = function (s, withDate) {
    if (!s) return '';
    const d = new Date(s);
    if (isNaN(d.getTime())) return String(s);
    const hm = pad(d.getHours()) + ':' + pad(d.getMinutes());
    return withDate === false ? hm : pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + hm;
  };

  GP.fmtClock = function (s) {
    const d = new Date(s);
    if (isNaN(d.getTime())) return '';
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  };

  GP.category = (c) => (c ? (GP.has('category.' + c) ? GP.t('category.' + c) : c) : '');
  GP.reason = (c) => (GP.has('reason.' + c) ? GP.t('reason.' + c) : c);
  // issue 12: a revocation reason code in words (earlier free text as is)
  GP.revokeReason = (c) => (c ? (GP.has('revoke.' + c) ? GP.t('revoke.' + c) : c) : '');
  // issue 12: a slot's days ("mon,wed,fri", "odd", "even") in words
  GP.slotDays = (d) =>
    String(d || '')
      .split(',')
      .map((x) => (GP.has('slots.day.' + x) ? GP.t('slots.day.' + x) : x))
      .join(GP.lang() === 'zh' ? '、' : ', ');
  GP.warning = (c) => (GP.has('warning.' + c) ? GP.t('warning.' + c) : c);

  GP.CATEGORIES = [
    'normal',
    'home_quarantine',
    'isolated',
    'confirmed',
    'suspected',
    'fever',
    'close_contact',
    'essential',
  ];

  // Who is logged in; null after redirecting to the login page.
  GP.me = async function () {
    const r = await GP.api('GET', '/api/v1/me');
    return r.ok ? r.data : null;
  };

  document.addEventListener('DOMContentLoaded', () => {
    document.querySelectorAll('.logout').forEach((b) =>
      b.addEventListener('click', async () => {
        await GP.api('POST', '/api/v1/logout', {}, { noRedirect: true });
        location.href = '/login';
      })
    );
  });
})();
