// guard.js: the guard page. An always-focused input takes the keyboard-mode
// USB scanner's typing (GP1:... then Enter) or a typed pass number; the
// phone camera scans (BarcodeDetector, or the shipped jsQR); each decision
// (from this page or live from the hardware scanner over SSE) is shown full
// screen: green allow / red deny / orange hold, with the reasons, the
// holder's name and household, temperature, category and household usage.
// A strip shows device states (every 10 s) and who is out now.
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
  const modalOpen = () => !$('camera').hidden || !$('out-panel').hidden;

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
      showProblem('bad_input', GP.t('guard.temp.label') + ': ' + $('temp-input').value);
      return;
    }
    hideAnswer();
    $('guard-msg').textContent = GP.t('common.loading');
    posting++;
    const r = await GP.api('POST', '/api/v1/scan', {
      payload,
      direction: direction || null,
      temperature_c: temp.value,
    });
    posting--;
    $('guard-msg').textContent = '';
    if (r.ok && r.data) {
      $('temp-input').value = ''; // a typed temperature belongs to one person
      showDecision(r.data, false);
    } else if (r.status === 503) {
      showProblem('unavailable', r.data && r.data.message);
    } else if (r.status === 0 || r.status >= 500) {
      showProblem('offline', r.status ? GP.errorText(r) : '');
    } else if (r.status !== 401) {
      showProblem('bad_input', GP.errorText(r));
    }
    flushLive();
  }

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
    $('answer').hidden = true;
    lastAnswer = null;
  }

  // A scan posted from this page is also broadcast on the live stream, often
  // before the POST answers; while a POST is out, live decisions wait so the
  // page's own answer is not shown twice or labelled as the scanner's.
  let posting = 0;
  let waitingLive = [];

  function onLive(data) {
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
    if (shownSeqs.includes(data.event_seq)) return;
    shownSeqs.push(data.event_seq);
    if (shownSeqs.length > 50) shownSeqs.shift();
    lastAnswer = { kind: data.decision, data, live };
    renderAnswer();
    GP.cue(data.decision);
  }

  // kind: unavailable (log cannot be written) | offline | bad_input
  function showProblem(kind, message) {
    lastAnswer = { kind, data: null, message: message || '' };
    renderAnswer();
    GP.cue('deny');
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
    box.dataset.seq = a.data ? String(a.data.event_seq) : '';
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
      sub.push(GP.fmtClock(d.at));
      if (a.live) sub.push('(' + GP.t('guard.live') + ')');
      if (d.decision === 'refer') $('answer-reasons').appendChild(li(GP.t('answer.refer.sub'), 'instruction'));

      $('answer-name').textContent = d.resident ? d.resident.name : GP.t('answer.unknown_person');
      $('answer-household').textContent = d.resident ? d.resident.household : '';

      d.reasons.forEach((r) => $('answer-reasons').appendChild(li(GP.reason(r))));
      const warnings = d.warnings.slice();
      if (d.clock_suspect) warnings.push('clock_suspect');
      if (d.backfilled) warnings.push('backfilled');
      warnings.forEach((w) => $('answer-warnings').appendChild(li('⚠ ' + GP.warning(w))));

      const facts = $('answer-facts');
      const fact = (text, cls) => facts.appendChild(GP.el('div', { class: 'fact ' + (cls || '') }, text));
      if (d.temperature_c !== null && d.temperature_c !== undefined) {
        const srcName = d.temperature_source ? GP.t('answer.source.' + d.temperature_source) : '';
        const src = !srcName ? '' : GP.lang() === 'zh' ? '（' + srcName + '）' : ' (' + srcName + ')';
        const hot = d.reasons.includes('fever');
        fact(GP.t('answer.temp', { t: Number(d.temperature_c).toFixed(1) }) + src, hot ? 'fact-bad' : '');
      } else {
        fact(GP.t('answer.temp.none'), d.reasons.includes('no_temperature') ? 'fact-bad' : '');
      }
      const has = (r) => d.reasons.includes(r);
      if (d.category) {
        const cls = has('quarantined') ? 'fact-bad' : d.category === 'normal' ? '' : 'fact-cat';
        fact(GP.t('answer.category', { c: GP.category(d.category) }), cls);
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
      if (d.pass_id) fact(GP.t('answer.pass', { id: d.pass_id }), 'fact-small');
    }
    $('answer-sub').textContent = sub.filter(Boolean).join(' · ');
    $('answer-warnings').hidden = !$('answer-warnings').firstChild;
    box.hidden = false;
    scanInput().focus();
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
    chip('chip-thermometer', T('guard.state.thermometer'), T('guard.state.' + st), lvl);
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
    if (h.gate) $('gate-name').textContent = h.gate + (h.community ? ' · ' + h.community : '');
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
          GP.fmtTime(p.since, false),
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

  document.addEventListener('DOMContentLoaded', async () => {
    setupFocus();
    setupScan();
    setupAnswer();
    setupOutPanel();
    setupCamera();
    renderStates();
    renderOut();
    GP.onLang(() => {
      renderStates();
      renderOut();
      if (lastAnswer && !$('answer').hidden) renderAnswer();
    });
    const me = await GP.me();
    if (!me) return; // on the way to the login page
    poll();
    setInterval(poll, 10000);
    setupStream();
  });
})();
