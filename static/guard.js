// guard.js: the guard page. An always-focused input takes the keyboard-mode
// USB scanner's typing (GP1:... then Enter) or a typed pass number; the
// phone camera scans (BarcodeDetector, or the shipped jsQR); each decision
// (from this page or live from the hardware scanner over SSE) is shown full
// screen: green allow / red deny / orange hold, with the reasons, the
// holder's name and household, temperature, category and household usage.
// A strip shows device states (every 10 s) and who is out now. An answer
// clears itself after [gate] answer_allow_s / answer_deny_s (from health;
// else the seconds set on #answer, data-clear-*), with a
// countdown; the temperature and pass-number boxes stay reachable under it.
// Every code from the API is shown in words (`problemText`), never raw.
// guard-desk.js (visitors, forgotten cards, urgent outings, parcels,
// handover) shows its answers through `GP.guard` below.
'use strict';
(function () {
  const GP = window.GP;
  const $ = (id) => document.getElementById(id);

  let direction = ''; // '' = auto, 'out', 'in'
  let lastAnswer = null; // {kind, data, message, live} for re-rendering on a language switch
  let lastHealth = null;
  let lastOut = null;
  const shownSeqs = []; // event_seq already shown (POST reply and SSE both bring it)

  // ---- focus: the scan input gets every keystroke not meant for a box ----

  const scanInput = () => $('scan-input');
  const modalOpen = () => !$('camera').hidden || !$('out-panel').hidden || !!document.querySelector('.sheet:not([hidden])');

  function refocus() {
    if (modalOpen()) return;
    const a = document.activeElement;
    if (!a || a === document.body || a.tagName === 'BUTTON' || a.id === 'answer') scanInput().focus();
  }

  function setupFocus() {
    scanInput().focus();
    document.addEventListener('focusout', () => setTimeout(refocus, 0));
    setInterval(refocus, 1000);
    // A key pressed while no box has focus goes to the scan input.
    document.addEventListener('keydown', (e) => {
      if (modalOpen()) return;
      const a = document.activeElement;
      const inBox = a && a.tagName === 'INPUT';
      if (!inBox && (e.key.length === 1 || e.key === 'Enter')) scanInput().focus();
      if (e.key === 'Escape') hideAnswer();
    });
    // The scanner types letters; if it fires while the guard is in the
    // temperature or pass-number box, move its typing to the scan input.
    ['temp-input', 'passno-input'].forEach((id) =>
      $(id).addEventListener('keydown', (e) => {
        if (e.key.length === 1 && /[A-Za-z:]/.test(e.key) && !e.ctrlKey && !e.metaKey) {
          e.preventDefault();
          const s = scanInput();
          s.focus();
          s.value += e.key;
        }
      })
    );
    $('temp-input').addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        scanInput().focus();
      }
    });
  }

  // ---- scanning ----

  function parseTemp() {
    const raw = $('temp-input').value.trim().replace(',', '.');
    if (raw === '') return { ok: true, value: null };
    const v = Number(raw);
    return Number.isFinite(v) ? { ok: true, value: v } : { ok: false };
  }

  async function submitScan(payload) {
    payload = payload.trim();
    if (!payload) return;
    const temp = parseTemp();
    if (!temp.ok) {
      showProblem('bad_input', GP.t('guard.error.temp_typed'));
      return;
    }
    hideAnswer();
    $('guard-msg').textContent = GP.t('common.loading');
    const r = await postScan({ payload, direction: direction || null, temperature_c: temp.value });
    if (r.ok && r.data) $('temp-input').value = ''; // a typed temperature belongs to one person
  }

  // POST /api/v1/scan (a payload, or a resident_id for a forgotten card);
  // shows the decision or the problem, and returns the reply.
  async function postScan(body) {
    hideAnswer();
    $('guard-msg').textContent = GP.t('common.loading');
    posting++;
    const r = await GP.api('POST', '/api/v1/scan', body);
    posting--;
    $('guard-msg').textContent = '';
    if (r.ok && r.data) showDecision(r.data, false);
    else showReplyProblem(r);
    flushLive();
    return r;
  }

  // A failed call shown on the answer screen, in words.
  function showReplyProblem(r) {
    const code = r.data && r.data.error;
    if (r.status === 401) return;
    if (code === 'policy_unreadable') showProblem('unavailable', GP.t('common.policy_unreadable'));
    else if (r.status === 503) showProblem('unavailable', '');
    else if (r.status === 0 || r.status >= 500) showProblem('offline', r.status ? problemText(r) : '');
    else showProblem('bad_input', problemText(r));
  }

  // The words for a failed call: by its code, else by its status, else a
  // plain "not done, check and retry". The server's own message (English,
  // for scripts and logs) shows only on the English page, after ours.
  function problemText(r) {
    if (r.status === 0) return GP.t('common.offline');
    const code = (r.data && (r.data.code || r.data.error)) || '';
    let text;
    if (code && GP.has('error.' + code)) text = GP.t('error.' + code);
    else if (r.data && r.data.error && GP.has('error.' + r.data.error)) text = GP.t('error.' + r.data.error);
    else if (r.status === 403) text = GP.t('common.forbidden');
    else if (r.status === 404) text = GP.t('error.not_found');
    else if (r.status >= 500) text = GP.t('error.internal');
    else text = GP.t('error.fallback');
    const msg = r.data && r.data.message;
    return GP.lang() === 'en' && msg ? text + ' (' + msg + ')' : text;
  }

  // Codes from the API in words; a code this page does not know yet is
  // still said in the page's language.
  function reasonText(code, d) {
    if (code === 'revoked' && d && d.revoked_reason) {
      const why = GP.has('revoked.' + d.revoked_reason) ? GP.t('revoked.' + d.revoked_reason) : GP.t('revoked.other');
      return GP.t('reason.revoked.why', { why });
    }
    return GP.has('reason.' + code) ? GP.t('reason.' + code) : GP.t('guard.reason.unknown');
  }
  const warningText = (code) => (GP.has('warning.' + code) ? GP.t('warning.' + code) : GP.t('guard.warning.unknown'));
  const categoryText = (c) => (GP.has('category.' + c) ? GP.t('category.' + c) : GP.t('guard.category.unknown'));

  function setupScan() {
    scanInput().addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        const v = scanInput().value;
        scanInput().value = '';
        submitScan(v);
      }
    });
    $('passno-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const v = $('passno-input').value;
      $('passno-input').value = '';
      submitScan(v);
      scanInput().focus();
    });
    document.querySelectorAll('.dir').forEach((b) =>
      b.addEventListener('click', () => {
        direction = b.dataset.dir;
        document.querySelectorAll('.dir').forEach((x) => x.setAttribute('aria-checked', String(x === b)));
        scanInput().focus();
      })
    );
  }

  // ---- the answer ----

  function hideAnswer() {
    stopCountdown();
    $('answer').hidden = true;
    lastAnswer = null;
  }

  // ---- the answer clears itself, with a countdown ----

  let countdown = null;

  // Seconds from #answer's data-clear-allow / -deny / -refer / -problem;
  // 0 keeps the answer until tapped.
  function clearAfter(kind) {
    // the gate's [gate] answer_allow_s / answer_deny_s win over the markup's defaults
    const g = lastHealth && lastHealth.guard;
    if (g) {
      const v = Number(kind === 'allow' ? g.answer_allow_s : g.answer_deny_s);
      if (Number.isFinite(v) && v >= 0) return v;
    }
    const key = ['allow', 'deny', 'refer'].includes(kind) ? kind : 'problem';
    const v = Number($('answer').dataset['clear' + key[0].toUpperCase() + key.slice(1)]);
    return Number.isFinite(v) && v >= 0 ? v : 10;
  }

  function startCountdown(kind) {
    stopCountdown();
    const secs = clearAfter(kind);
    $('answer-bar').parentNode.hidden = !secs;
    if (!secs) return;
    const end = Date.now() + secs * 1000;
    const tick = () => {
      const left = end - Date.now();
      if (left <= 0) {
        hideAnswer();
        return;
      }
      $('answer-count').textContent = GP.t('guard.countdown', { n: Math.ceil(left / 1000) });
      $('answer-bar').style.width = ((100 * left) / (secs * 1000)).toFixed(1) + '%';
    };
    tick();
    countdown = setInterval(tick, 200);
  }

  function stopCountdown() {
    clearInterval(countdown);
    countdown = null;
    $('answer-count').textContent = '';
  }

  // A scan posted from this page is also broadcast on the live stream, often
  // before the POST answers; while a POST is out, live decisions wait so the
  // page's own answer is not shown twice or labelled as the scanner's.
  let posting = 0;
  let waitingLive = [];

  function onLive(data) {
    if (data.kind === 'delivery') return; // a hand-off at the gate: nobody crosses
    if (posting > 0) waitingLive.push(data);
    else showDecision(data, true);
  }

  function flushLive() {
    if (posting > 0) return;
    const w = waitingLive;
    waitingLive = [];
    w.forEach((d) => showDecision(d, true));
  }

  function showDecision(data, live) {
    if (data.event_seq !== undefined) {
      if (shownSeqs.includes(data.event_seq)) return;
      shownSeqs.push(data.event_seq);
      if (shownSeqs.length > 50) shownSeqs.shift();
    }
    lastAnswer = { kind: data.decision, data, live };
    renderAnswer();
    startCountdown(data.decision);
    GP.cue(data.decision);
  }

  // kind: unavailable (log cannot be written) | offline | bad_input
  function showProblem(kind, message) {
    lastAnswer = { kind, data: null, message: message || '' };
    renderAnswer();
    startCountdown(kind);
    GP.cue('deny');
  }

  // The gate's times ("…T14:30:12.345+08:00") are in the community's time
  // zone; shown as written, so the guard reads the gate's clock whatever
  // zone the browser is set to.
  function gateClock(s, seconds) {
    const m = /T(\d{2}:\d{2})(:\d{2})?/.exec(s || '');
    if (!m) return seconds ? GP.fmtClock(s) : GP.fmtTime(s, false);
    return m[1] + (seconds && m[2] ? m[2] : '');
  }

  function li(text, cls) {
    return GP.el('li', { class: cls }, text);
  }

  function renderAnswer() {
    const a = lastAnswer;
    if (!a) return;
    const box = $('answer');
    box.className = 'answer answer-' + a.kind;
    box.dataset.shown = String(Number(box.dataset.shown || 0) + 1); // tests wait for a new answer
    box.dataset.seq = a.data && a.data.event_seq !== undefined ? String(a.data.event_seq) : '';
    const d = a.data;
    const sub = [];
    GP.clear($('answer-reasons'));
    GP.clear($('answer-warnings'));
    GP.clear($('answer-facts'));
    $('answer-name').textContent = '';
    $('answer-household').textContent = '';

    if (!d) {
      $('answer-word').textContent = GP.t('answer.' + a.kind);
      if (a.kind !== 'bad_input') sub.push(GP.t('answer.' + a.kind + '.sub'));
      if (a.message) $('answer-reasons').appendChild(li(a.message));
    } else {
      $('answer-word').textContent = GP.t('answer.' + d.decision);
      if (d.direction) sub.push(GP.t('answer.dir.' + d.direction));
      sub.push(gateClock(d.at, true));
      if (a.live) sub.push('(' + GP.t('guard.live') + ')');
      if (d.decision === 'refer') $('answer-reasons').appendChild(li(GP.t('answer.refer.sub'), 'instruction'));

      // an outsider's answer (guard-desk.js) names the visitor or the plate
      const v = d.visitor; // a visitor pass scanned
      const who = d.resident || d.who || (v && { name: v.name, household: v.host });
      $('answer-name').textContent = who ? who.name : GP.t('answer.unknown_person');
      $('answer-household').textContent = who ? who.household || '' : '';

      (d.reasons || []).forEach((r) => $('answer-reasons').appendChild(li(reasonText(r, d))));
      const warnings = (d.warnings || []).slice();
      if (d.clock_suspect) warnings.push('clock_suspect');
      if (d.backfilled) warnings.push('backfilled');
      warnings.forEach((w) => $('answer-warnings').appendChild(li('⚠ ' + warningText(w))));

      const has = (r) => (d.reasons || []).includes(r);
      const facts = $('answer-facts');
      const fact = (text, cls) => facts.appendChild(GP.el('div', { class: 'fact ' + (cls || '') }, text));
      if (d.temperature_c !== null && d.temperature_c !== undefined) {
        const srcKey = 'answer.source.' + d.temperature_source;
        const srcName = d.temperature_source && GP.has(srcKey) ? GP.t(srcKey) : '';
        const src = !srcName ? '' : GP.lang() === 'zh' ? '（' + srcName + '）' : ' (' + srcName + ')';
        const hot = has('fever');
        fact(GP.t('answer.temp', { t: Number(d.temperature_c).toFixed(1) }) + src, hot ? 'fact-bad' : '');
      } else {
        fact(GP.t('answer.temp.none'), has('no_temperature') ? 'fact-bad' : '');
      }
      if (d.category) {
        const cls = has('quarantined') ? 'fact-bad' : d.category === 'normal' ? '' : 'fact-cat';
        fact(GP.t('answer.category', { c: categoryText(d.category) }), cls);
      }
      const u = d.household_usage;
      if (u) {
        const usage = GP.t('answer.usage', { p: u.period_days, u: u.outings_used, a: u.outings_allowed });
        fact(usage, has('household_quota') ? 'fact-bad' : '');
        fact(
          u.members_out.length
            ? GP.t('answer.members_out', { names: u.members_out.join(GP.lang() === 'zh' ? '、' : ', ') })
            : GP.t('answer.members_out.none'),
          has('household_member_out') ? 'fact-bad' : ''
        );
      }
      if (d.slot) fact(GP.t('answer.slot', { days: GP.slotDays(d.slot.days), hours: d.slot.hours }), has('outside_slot') ? 'fact-bad' : ''); // issue 12
      if (v && v.plate) fact(GP.t('desk.visit.plate_note', { p: v.plate }));
      if (v && v.uses_left !== null && v.uses_left !== undefined) fact(GP.t('desk.visit.uses_left', { n: v.uses_left }));
      if (d.pass_id) fact(GP.t('answer.pass', { id: d.pass_id }), 'fact-small');
      (typeof d.notes === 'function' ? d.notes() : d.notes || []).forEach((n) => fact(n)); // words guard-desk.js adds (plate, purpose, return time)
    }
    $('answer-sub').textContent = sub.filter(Boolean).join(' · ');
    $('answer-warnings').hidden = !$('answer-warnings').firstChild;
    box.hidden = false;
    scanInput().focus();
  }

  // The answer ends where the dock (temperature, pass number) begins.
  function setupDock() {
    const fit = () => document.documentElement.style.setProperty('--dock-h', $('dock').offsetHeight + 'px');
    fit();
    if (window.ResizeObserver) new ResizeObserver(fit).observe($('dock'));
  }

  function setupAnswer() {
    $('answer').addEventListener('click', () => {
      hideAnswer();
      scanInput().focus();
    });
  }

  // ---- live decisions from the hardware scanner ----

  function setupStream() {
    if (!window.EventSource) return;
    let es;
    const open = () => {
      es = new EventSource('/api/v1/stream');
      es.addEventListener('scan', (ev) => {
        try {
          onLive(JSON.parse(ev.data));
        } catch (_) {
          /* a broken message is ignored; the next one comes */
        }
      });
      es.onerror = () => {
        if (es.readyState === EventSource.CLOSED) setTimeout(open, 5000);
      };
    };
    open();
  }

  // ---- device states and who is out ----

  function chip(id, label, text, level) {
    const c = $(id);
    c.textContent = label + ' ' + text;
    c.className = 'chip chip-' + level;
  }

  function renderStates() {
    const h = lastHealth;
    const T = GP.t;
    if (!h) {
      chip('chip-thermometer', T('guard.state.thermometer'), T('guard.state.unknown'), 'bad');
      chip('chip-log', T('guard.state.log'), T('guard.state.unknown'), 'bad');
      chip('chip-clock', T('guard.state.clock'), T('guard.state.unknown'), 'bad');
      return;
    }
    const th = h.thermometer || {};
    const st = th.state || 'unknown';
    const lvl = st === 'ok' || st === 'simulated' ? 'ok' : st === 'off' ? 'off' : 'bad';
    const stKey = GP.has('guard.state.' + st) ? 'guard.state.' + st : 'guard.state.unknown';
    chip('chip-thermometer', T('guard.state.thermometer'), T(stKey), lvl);
    $('chip-thermometer').title = th.detail || '';
    const db = h.database || {};
    const logOk = db.ok === true && db.log_writable === true;
    chip('chip-log', T('guard.state.log'), logOk ? T('guard.state.ok') : T('guard.state.log_bad'), logOk ? 'ok' : 'bad');
    const ck = h.clock || {};
    chip(
      'chip-clock',
      T('guard.state.clock'),
      ck.trusted ? T('guard.state.ok') : T('guard.state.clock_suspect'),
      ck.trusted ? 'ok' : 'warn'
    );
    $('chip-clock').title = ck.detail || '';
    renderPeers(h);
    if (h.gate) $('gate-name').textContent = h.gate + (h.community ? ' · ' + h.community : '');
  }

  // The other gates of the community: green when heard from in the last
  // 10 s, amber up to 2 minutes, red after that or never (docs/gates.md).
  // Ages are counted on the gate's clock (health's clock.now), not the
  // phone's.
  function renderPeers(h) {
    const box = GP.clear($('peer-chips'));
    const now = Date.parse((h.clock && h.clock.now) || '') || Date.now();
    (h.peers || []).forEach((p) => {
      const heard = p.last_heard_at ? Date.parse(p.last_heard_at) : NaN;
      const age = Number.isNaN(heard) ? Infinity : Math.max(0, (now - heard) / 1000);
      const level = age < 10 ? 'ok' : age < 120 ? 'warn' : 'bad';
      const when =
        age === Infinity
          ? GP.t('guard.peer.never')
          : age < 10
            ? GP.t('guard.peer.now')
            : age < 120
              ? GP.t('guard.peer.seconds', { n: Math.round(age) })
              : GP.t('guard.peer.minutes', { n: Math.round(age / 60) });
      const c = GP.el('span', { class: 'chip chip-' + level }, p.gate + ' ' + when);
      c.title = p.behind ? GP.t('guard.peer.behind', { n: p.behind }) : '';
      box.appendChild(c);
    });
  }

  function renderOut() {
    const o = lastOut;
    const c = $('chip-out');
    if (!o) {
      c.textContent = '';
      c.hidden = true;
      return;
    }
    c.hidden = false;
    let text = GP.t('guard.out.count', { n: o.count });
    if (o.overdue_count) text += ' · ' + GP.t('guard.out.overdue', { n: o.overdue_count });
    c.textContent = text;
    c.className = 'chip chip-out ' + (o.overdue_count ? 'chip-warn' : 'chip-off');
    const list = GP.clear($('out-list'));
    if (!o.out.length) list.appendChild(GP.el('li', null, GP.t('guard.out.empty')));
    o.out.forEach((p) =>
      list.appendChild(
        GP.el(
          'li',
          { class: p.overdue ? 'overdue' : '' },
          GP.el('b', null, p.name),
          ' ',
          p.household,
          ' · ',
          gateClock(p.since, false),
          ' · ',
          GP.t('guard.out.minutes', { n: p.minutes })
        )
      )
    );
  }

  async function poll() {
    try {
      const res = await fetch('/api/v1/health', { credentials: 'same-origin' });
      lastHealth = res.ok || res.status === 503 ? await res.json() : null;
    } catch (_) {
      lastHealth = null;
    }
    renderStates();
    const r = await GP.api('GET', '/api/v1/out');
    lastOut = r.ok ? r.data : null;
    renderOut();
  }

  function setupOutPanel() {
    $('chip-out').addEventListener('click', () => {
      $('out-panel').hidden = false;
    });
    const close = () => {
      $('out-panel').hidden = true;
      scanInput().focus();
    };
    $('out-close').addEventListener('click', close);
    $('out-panel').addEventListener('click', (e) => {
      if (e.target === $('out-panel')) close();
    });
  }

  // Who is on duty: each guard logs in as themself, and every event records them.
  let operator = '';
  function renderOperator() {
    $('chip-operator').textContent = operator ? GP.t('guard.operator', { name: operator }) : '';
  }

  // ---- phone camera: BarcodeDetector where the browser has one, else the
  // jsQR decoder shipped with the page (static/vendor/README.md) ----

  const JSQR_SRC = '/static/vendor/jsqr-1.4.0.js';
  let jsqrLoading = null;

  function loadJsqr() {
    if (window.jsQR) return Promise.resolve(window.jsQR);
    if (!jsqrLoading) {
      jsqrLoading = new Promise((resolve, reject) => {
        const s = document.createElement('script');
        s.src = JSQR_SRC;
        s.onload = () => (window.jsQR ? resolve(window.jsQR) : reject(new Error('decoder')));
        s.onerror = () => {
          jsqrLoading = null;
          reject(new Error('decoder'));
        };
        document.head.appendChild(s);
      });
    }
    return jsqrLoading;
  }

  // A function video -> Promise<text|null> reading one frame.
  async function makeReader() {
    if ('BarcodeDetector' in window) {
      try {
        const formats = window.BarcodeDetector.getSupportedFormats
          ? await window.BarcodeDetector.getSupportedFormats()
          : ['qr_code'];
        if (formats.includes('qr_code')) {
          const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
          return async (video) => {
            const codes = await detector.detect(video);
            return codes.length && codes[0].rawValue ? codes[0].rawValue : null;
          };
        }
      } catch (_) {
        /* fall through to the shipped decoder */
      }
    }
    const jsQR = await loadJsqr();
    const canvas = document.createElement('canvas');
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    return async (video) => {
      const w0 = video.videoWidth;
      const h0 = video.videoHeight;
      if (!w0 || !h0) return null;
      // a phone's 1080p frame is more than a card needs, and slow to decode
      const k = Math.min(1, 640 / Math.max(w0, h0));
      const w = Math.round(w0 * k);
      const h = Math.round(h0 * k);
      canvas.width = w;
      canvas.height = h;
      ctx.drawImage(video, 0, 0, w, h);
      const img = ctx.getImageData(0, 0, w, h);
      const r = jsQR(img.data, w, h, { inversionAttempts: 'dontInvert' });
      return r && r.data ? r.data : null;
    };
  }

  // Every failure in words a guard can act on (the browser's own message
  // is English and says nothing useful to a volunteer).
  function cameraMessage(err) {
    const name = err && err.name;
    if (name === 'NotAllowedError' || name === 'SecurityError') return GP.t('guard.camera.denied');
    if (name === 'NotFoundError' || name === 'OverconstrainedError') return GP.t('guard.camera.none');
    if (name === 'NotReadableError' || name === 'AbortError') return GP.t('guard.camera.busy');
    if (err && err.message === 'decoder') return GP.t('guard.camera.decoder');
    return GP.t('guard.camera.failed');
  }

  async function hasCamera() {
    try {
      const list = await navigator.mediaDevices.enumerateDevices();
      return list.some((d) => d.kind === 'videoinput');
    } catch (_) {
      return false;
    }
  }

  async function setupCamera() {
    const media = navigator.mediaDevices && navigator.mediaDevices.getUserMedia;
    if (!media) {
      // plain http: the browser offers no camera at all. On a phone, say
      // why instead of hiding the button (the gate can serve https).
      if (navigator.maxTouchPoints > 0) {
        $('camera-btn').hidden = false;
        $('camera-btn').addEventListener('click', () => {
          $('guard-msg').textContent = GP.t('guard.camera.insecure');
        });
      }
      return;
    }
    // a gate's own screen (a Pi with a USB scanner) has no camera: no button
    if (!(await hasCamera())) return;
    $('camera-btn').hidden = false;
    let stream = null;
    let timer = null;
    const stop = () => {
      clearTimeout(timer);
      if (stream) stream.getTracks().forEach((t) => t.stop());
      stream = null;
      $('camera').hidden = true;
      scanInput().focus();
    };
    $('camera-stop').addEventListener('click', stop);
    $('camera-btn').addEventListener('click', async () => {
      let read;
      try {
        read = await makeReader();
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
      } catch (err) {
        $('guard-msg').textContent = cameraMessage(err);
        return;
      }
      hideAnswer();
      const video = $('camera-video');
      video.srcObject = stream;
      $('camera').hidden = false;
      await video.play().catch(() => {});
      const tick = async () => {
        if (!stream) return;
        try {
          const v = await read(video);
          if (v) {
            stop();
            submitScan(v);
            return;
          }
        } catch (_) {
          /* frame not ready yet */
        }
        timer = setTimeout(tick, 200);
      };
      tick();
    });
  }

  // For guard-desk.js: its answers on the same screen, the same words.
  GP.guard = {
    postScan,
    showDecision: (data) => showDecision(data, false),
    showProblem,
    problemText,
    reasonText,
    categoryText,
    focusScan: () => scanInput().focus(),
    // a desk call out: live decisions wait until the returned release()
    hold: () => {
      posting++;
      let done = false;
      return () => {
        if (done) return;
        done = true;
        posting--;
        flushLive();
      };
    },
  };

  document.addEventListener('DOMContentLoaded', async () => {
    setupFocus();
    setupScan();
    setupDock();
    setupAnswer();
    setupOutPanel();
    setupCamera();
    renderStates();
    renderOut();
    GP.onLang(() => {
      renderOperator();
      renderStates();
      renderOut();
      if (lastAnswer && !$('answer').hidden) renderAnswer();
    });
    const me = await GP.me();
    if (!me) return; // on the way to the login page
    operator = me.name || '';
    renderOperator();
    poll();
    // the peers' freshness is shown to the nearest 10 s
    setInterval(poll, 5000);
    setupStream();
  });
})();
