// guard-desk.js: the guard page's desk, for everyone at the gate who is not
// a resident with a card: outsiders and vehicles (POST /api/v1/visits, 劝返
// without an approval), forgotten cards (GET /api/v1/residents?q=, then a
// scan by resident_id), urgent outings (POST /api/v1/exceptions), delivery
// hand-offs and the parcels waiting, and the shift handover. Each opens as
// a sheet over the page; a decision closes the sheet and shows on the same
// full-screen answer as a scan (guard.js, `GP.guard`). Bad input is said in
// the sheet, in words, and nothing is sent.
'use strict';
(function () {
  const GP = window.GP;
  const $ = (id) => document.getElementById(id);

  const PROVINCES = '京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼'.split('');
  const PLATE_REST = /^[A-Z](?:[A-HJ-NP-Z0-9]{4}[A-HJ-NP-Z0-9挂学警港澳领使]|[A-HJ-NP-Z0-9]{6})$/;
  const PROVINCE_KEY = 'gatepass.province';
  const SEARCH_LIMIT = 20; // the API answers at most 20

  // ---- small pieces ----

  // A row of radio buttons (.seg-btn with data-value); returns get/set.
  function seg(id, onChange) {
    const box = $(id);
    const btns = [...box.querySelectorAll('.seg-btn')];
    const set = (v) => btns.forEach((b) => b.setAttribute('aria-checked', String(b.dataset.value === v)));
    btns.forEach((b) =>
      b.addEventListener('click', () => {
        set(b.dataset.value);
        if (onChange) onChange(b.dataset.value);
      })
    );
    const get = () => {
      const on = btns.find((b) => b.getAttribute('aria-checked') === 'true');
      return on ? on.dataset.value : null;
    };
    return { get, set };
  }

  const val = (id) => $(id).value.trim();

  // A typed temperature: null when empty, NaN when not a plausible reading
  // (the gate takes 30–45 °C).
  function tempOf(id) {
    const raw = val(id).replace(',', '.');
    if (raw === '') return null;
    const v = Number(raw);
    return Number.isFinite(v) && v >= 30 && v <= 45 ? v : NaN;
  }

  // 11-digit mobile 1[3-9]…, or a landline 0… (spaces and dashes ignored).
  function phoneOf(id) {
    const p = val(id).replace(/[\s-]/g, '');
    if (p === '') return { ok: true, value: null };
    return { ok: /^1[3-9]\d{9}$/.test(p) || /^0\d{9,11}$/.test(p), value: p };
  }

  // "14:30", "1430", "9:05", "14：30" -> "14:30"; null when not a time.
  function hhmm(s) {
    const m = s.replace('：', ':').match(/^(\d{1,2}):?(\d{2})$/);
    if (!m) return null;
    const h = Number(m[1]);
    const mi = Number(m[2]);
    return h < 24 && mi < 60 ? String(h).padStart(2, '0') + ':' + m[2] : null;
  }

  // A time from the gate ("2026-12-01T14:30:00.000+08:00", the community's
  // time zone) as the community reads it, whatever the browser's zone:
  // "14:30", or "12-01 14:30" with the date.
  function gateTime(s, withDate) {
    const m = /^\d{4}-(\d{2})-(\d{2})T(\d{2}:\d{2})/.exec(s || '');
    if (!m) return GP.fmtTime(s, withDate);
    return withDate === false ? m[3] : m[1] + '-' + m[2] + ' ' + m[3];
  }

  function say(id, text, ok) {
    $(id).textContent = text || '';
    $(id).className = ok ? 'ok-text' : 'form-error';
  }

  // ---- sheets ----

  let openName = null;
  const onOpen = {};

  function openSheet(name) {
    closeSheet(true);
    openName = name;
    $('sheet-' + name).hidden = false;
    $('sheet-' + name).scrollTop = 0;
    if (onOpen[name]) onOpen[name]();
  }

  function closeSheet(quiet) {
    if (!openName) return;
    $('sheet-' + openName).hidden = true;
    openName = null;
    if (!quiet) GP.guard.focusScan();
  }

  // A decision from the desk: the sheet closes, the answer shows.
  function showAnswer(data) {
    closeSheet(true);
    GP.guard.showDecision(data);
    GP.guard.focusScan();
  }

  // While a desk call is out, the live stream's copy of its decision waits
  // (guard.js shows each event once, the page's own reply first).
  async function call(method, path, body) {
    const release = GP.guard.hold();
    try {
      return await GP.api(method, path, body);
    } finally {
      setTimeout(release, 0);
    }
  }

  // ---- finding a resident (name, household code or pinyin initials) ----

  // Searches as the guard types; `render(list, info)` draws the results.
  function searcher(input, errorId, render) {
    let timer = null;
    let asked = 0;
    const run = async () => {
      const q = $(input).value.trim();
      const mine = ++asked;
      if (!q) {
        render([], '');
        return;
      }
      const r = await GP.api('GET', '/api/v1/residents?q=' + encodeURIComponent(q));
      if (mine !== asked) return; // an older answer after a newer question
      if (!r.ok || !r.data) {
        render([], '');
        say(errorId, GP.guard.problemText(r));
        return;
      }
      say(errorId, '');
      const list = (r.data.residents || []).slice(0, SEARCH_LIMIT);
      let info = '';
      if (!list.length) info = GP.t('desk.search.none');
      else if (r.data.truncated) info = GP.t('desk.search.more', { n: list.length });
      render(list, info);
    };
    $(input).addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(run, 200);
    });
    $(input).addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        clearTimeout(timer);
        if (!$(input).value.trim()) say(errorId, GP.t('desk.search.empty'));
        else run();
      }
    });
    return { run, reset: () => ((asked += 1), render([], '')) };
  }

  const phoneText = (r) =>
    r.phone_masked ? GP.t('desk.search.phone', { p: r.phone_masked }) : GP.t('desk.search.nophone');

  // A household field that is a search: pick a resident, keep the household
  // (and the resident, for an urgent outing).
  function householdPicker(prefix) {
    let picked = null;
    const list = $(prefix + '-picks');
    const show = () => {
      const p = $(prefix + '-picked');
      GP.clear(p);
      p.hidden = !picked;
      $(prefix + '-q').hidden = !!picked;
      if (!picked) return;
      p.append(
        GP.el('b', null, picked.household),
        ' ',
        picked.name,
        ' · ',
        phoneText(picked),
        ' ',
        picked.category && picked.category !== 'normal'
          ? GP.el('span', { class: 'pick-cat' }, GP.guard.categoryText(picked.category))
          : null,
        ' ',
        GP.el('button', { type: 'button', class: 'picked-change', onclick: () => pick(null) }, GP.t('desk.picked.change'))
      );
    };
    const pick = (r) => {
      picked = r;
      GP.clear(list);
      show();
      if (!r) $(prefix + '-q').focus();
    };
    const s = searcher(prefix + '-q', prefix + '-error', (rows, info) => {
      GP.clear(list);
      rows.forEach((r) =>
        list.appendChild(
          GP.el(
            'li',
            null,
            GP.el(
              'button',
              { type: 'button', class: 'pick', onclick: () => pick(r) },
              GP.el('b', null, r.household),
              ' ',
              r.name,
              GP.el('span', { class: 'pick-sub' }, phoneText(r)),
              r.category && r.category !== 'normal'
                ? GP.el('span', { class: 'pick-cat' }, GP.guard.categoryText(r.category))
                : null
            )
          )
        )
      );
      if (info) list.appendChild(GP.el('li', { class: 'pick-info' }, info));
    });
    return {
      get: () => picked,
      clear: () => {
        $(prefix + '-q').value = '';
        s.reset();
        pick(null);
      },
    };
  }

  // ---- outsiders and vehicles ----

  function setupVisit() {
    const sel = $('visit-province');
    let last = '京';
    try {
      last = localStorage.getItem(PROVINCE_KEY) || last;
    } catch (_) {
      /* storage blocked: the first province */
    }
    PROVINCES.forEach((p) => sel.appendChild(GP.el('option', { value: p, selected: p === last }, p)));
    const showKind = (k) => {
      document.querySelectorAll('#sheet-visit .vehicle-only').forEach((n) => (n.hidden = k !== 'vehicle'));
      say('visit-error', '');
    };
    const kind = seg('visit-kind', showKind);
    const dir = seg('visit-dir');
    const purpose = seg('visit-purpose');
    const host = householdPicker('visit');
    // A plate typed with its province: the character goes to the picker.
    $('visit-plate').addEventListener('input', () => {
      let v = $('visit-plate').value.toUpperCase().replace(/[\s·.-]/g, '');
      if (v && PROVINCES.includes(v[0])) {
        sel.value = v[0];
        v = v.slice(1);
      }
      $('visit-plate').value = v.slice(0, 7);
    });

    const reset = () => {
      ['visit-pass', 'visit-name', 'visit-phone', 'visit-from', 'visit-reason', 'visit-temp', 'visit-plate'].forEach(
        (id) => ($(id).value = '')
      );
      host.clear();
      say('visit-error', '');
    };
    onOpen.visit = () => {
      reset();
      kind.set('visitor');
      dir.set('in');
      purpose.set('supply');
      showKind('visitor');
      $('visit-name').focus();
    };

    const send = async (body, who, notes) => {
      const r = await call('POST', '/api/v1/visits', body);
      if (r.ok && r.data) {
        try {
          if (body.plate) localStorage.setItem(PROVINCE_KEY, sel.value);
        } catch (_) {
          /* not remembered */
        }
        const d = r.data;
        showAnswer(Object.assign({}, d, { who: who(d), notes: () => notes(d) }));
        reset();
      } else if (r.status !== 401) {
        say('visit-error', GP.guard.problemText(r));
      }
    };

    const kindWord = (k) => GP.t(k === 'vehicle' ? 'desk.vehicle' : 'desk.visitor');

    // A visitor pass scanned into its box: decided as that pass.
    $('visit-pass').addEventListener('keydown', (e) => {
      if (e.key !== 'Enter') return;
      e.preventDefault();
      const code = val('visit-pass');
      if (!code) return;
      const temp = tempOf('visit-temp');
      if (Number.isNaN(temp)) return say('visit-error', GP.t('desk.visit.bad_temp'));
      send(
        { kind: kind.get(), code, direction: dir.get(), temperature_c: temp },
        (d) =>
          d.visitor
            ? { name: d.visitor.name, household: d.visitor.host ? GP.t('desk.visit.host_note', { h: d.visitor.host }) : '' }
            : { name: kindWord(kind.get()), household: '' },
        () => []
      );
    });

    $('visit-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const k = kind.get();
      const name = val('visit-name');
      const phone = phoneOf('visit-phone');
      const temp = tempOf('visit-temp');
      const body = {
        kind: k,
        direction: dir.get(),
        name: name || null,
        phone: phone.value,
        from: val('visit-from') || null,
        reason: val('visit-reason') || null,
        host: host.get() ? host.get().household : null,
        temperature_c: temp,
      };
      let plate = '';
      if (k === 'vehicle') {
        const rest = val('visit-plate').toUpperCase();
        if (!rest) return say('visit-error', GP.t('desk.visit.need_plate'));
        // as the gate checks it: the office letter, then 5 letters/digits
        // (the last may be 挂 学 警 港 澳 领 使) or 6 for new-energy; no I or O
        if (!PLATE_REST.test(rest)) return say('visit-error', GP.t('desk.visit.bad_plate'));
        plate = sel.value + rest;
        body.plate = plate;
        body.purpose = purpose.get();
      } else if (!name) {
        return say('visit-error', GP.t('desk.visit.need_name'));
      }
      if (!phone.ok) return say('visit-error', GP.t('desk.visit.bad_phone'));
      if (Number.isNaN(temp)) return say('visit-error', GP.t('desk.visit.bad_temp'));
      const hostCode = body.host;
      const from = body.from;
      send(
        body,
        () => ({
          name: plate || name || kindWord(k),
          household: hostCode ? GP.t('desk.visit.host_note', { h: hostCode }) : '',
        }),
        () => {
          const n = [];
          if (plate && name) n.push(name);
          if (k === 'vehicle') n.push(GP.t('desk.visit.purpose_note', { p: GP.t('purpose.' + body.purpose) }));
          if (from) n.push(GP.t('desk.visit.from_note', { f: from }));
          return n;
        }
      );
    });
  }

  // ---- a forgotten card ----

  function setupNoCard() {
    const dir = seg('nocard-dir');
    const list = $('nocard-picks');
    const record = (r) => {
      const temp = tempOf('nocard-temp');
      if (Number.isNaN(temp)) return say('nocard-error', GP.t('desk.visit.bad_temp'));
      closeSheet(true);
      GP.guard.postScan({ resident_id: r.id, direction: dir.get() || null, temperature_c: temp });
    };
    const s = searcher('nocard-q', 'nocard-error', (rows, info) => {
      GP.clear(list);
      rows.forEach((r) =>
        list.appendChild(
          GP.el(
            'li',
            null,
            GP.el(
              'button',
              { type: 'button', class: 'pick', dataset: { residentId: r.id }, onclick: () => record(r) },
              GP.el('span', { class: 'pick-name' }, r.name),
              GP.el('span', { class: 'pick-hh' }, r.household),
              GP.el('span', { class: 'pick-sub' }, phoneText(r)),
              r.category && r.category !== 'normal'
                ? GP.el('span', { class: 'pick-cat' }, GP.guard.categoryText(r.category))
                : null,
              r.out ? GP.el('span', { class: 'pick-cat' }, GP.t('desk.handover.out')) : null
            )
          )
        )
      );
      if (info) list.appendChild(GP.el('li', { class: 'pick-info' }, info));
    });
    $('nocard-form').addEventListener('submit', (e) => e.preventDefault());
    onOpen.nocard = () => {
      $('nocard-q').value = '';
      $('nocard-temp').value = '';
      dir.set('');
      s.reset();
      say('nocard-error', '');
      $('nocard-q').focus();
    };
  }

  // ---- an urgent outing ----

  function setupException() {
    const who = householdPicker('exception');
    const reason = seg('exception-reason');
    onOpen.exception = () => {
      who.clear();
      reason.set('');
      ['exception-reason-text', 'exception-destination', 'exception-return', 'exception-approver'].forEach(
        (id) => ($(id).value = '')
      );
      say('exception-error', '');
      $('exception-q').focus();
    };
    $('exception-return').addEventListener('blur', () => {
      const t = hhmm(val('exception-return'));
      if (t) $('exception-return').value = t;
    });
    $('exception-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const r = who.get();
      if (!r) return say('exception-error', GP.t('desk.hh.need'));
      const why = [reason.get(), val('exception-reason-text')].filter(Boolean).join('：');
      if (!why) return say('exception-error', GP.t('desk.exception.need_reason'));
      const dest = val('exception-destination');
      if (!dest) return say('exception-error', GP.t('desk.exception.need_destination'));
      const back = hhmm(val('exception-return'));
      if (!back) return say('exception-error', GP.t('desk.exception.bad_return'));
      const body = {
        resident_id: r.id,
        reason: why,
        destination: dest,
        expected_return: back,
        approved_by: val('exception-approver') || null,
      };
      const res = await call('POST', '/api/v1/exceptions', body);
      if (res.ok && res.data) {
        showAnswer(
          Object.assign({}, res.data, {
            notes: () => [why, dest, GP.t('desk.exception.return_note', { t: back })],
          })
        );
      } else if (res.status !== 401) {
        say('exception-error', GP.t('desk.exception.refused', { why: GP.guard.problemText(res) }));
        if (res.data && res.data.error === 'approval_required') $('exception-approver').focus();
      }
    });
  }

  // ---- deliveries ----

  function setupParcel() {
    const host = householdPicker('parcel');
    const load = async () => {
      const list = GP.clear($('parcel-list'));
      const r = await GP.api('GET', '/api/v1/parcels?status=waiting');
      if (!r.ok || !r.data) {
        if (r.status !== 401) list.appendChild(GP.el('li', { class: 'form-error' }, GP.guard.problemText(r)));
        return;
      }
      const ps = r.data.parcels || [];
      if (!ps.length) list.appendChild(GP.el('li', null, GP.t('desk.parcel.none')));
      ps.forEach((p) => {
        const by = GP.el('input', {
          class: 'collect-by',
          autocomplete: 'off',
          maxlength: '40',
          placeholder: GP.t('desk.parcel.collected_by'),
          'aria-label': GP.t('desk.parcel.collected_by'),
        });
        const err = GP.el('span', { class: 'form-error' });
        const collect = async () => {
          if (!by.value.trim()) {
            err.textContent = GP.t('error.name_required');
            return by.focus();
          }
          const c = await GP.api('POST', '/api/v1/parcels/' + encodeURIComponent(p.id) + '/collect', {
            by: by.value.trim(),
          });
          if (c.ok) load();
          else if (c.status !== 401) err.textContent = GP.guard.problemText(c);
        };
        list.appendChild(
          GP.el(
            'li',
            { dataset: { parcelId: p.id } },
            GP.el(
              'div',
              null,
              GP.t('desk.parcel.item', { h: p.host || '', c: p.company || p.courier || '', at: gateTime(p.at) })
            ),
            GP.el(
              'div',
              { class: 'inline' },
              by,
              GP.el('button', { type: 'button', onclick: collect }, GP.t('desk.parcel.collect'))
            ),
            err
          )
        );
      });
    };
    onOpen.parcel = () => {
      ['parcel-name', 'parcel-phone', 'parcel-from'].forEach((id) => ($(id).value = ''));
      host.clear();
      say('parcel-error', '');
      load();
      $('parcel-name').focus();
    };
    $('parcel-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const h = host.get();
      if (!h) return say('parcel-error', GP.t('error.host_required'));
      const phone = phoneOf('parcel-phone');
      if (!phone.ok) return say('parcel-error', GP.t('desk.visit.bad_phone'));
      const r = await call('POST', '/api/v1/visits', {
        kind: 'delivery',
        name: val('parcel-name') || null,
        phone: phone.value,
        from: val('parcel-from') || null,
        host: h.household,
      });
      if (r.ok) {
        ['parcel-name', 'parcel-phone', 'parcel-from'].forEach((id) => ($(id).value = ''));
        host.clear();
        say('parcel-error', GP.t('desk.parcel.done', { h: h.household }), true);
        load();
      } else if (r.status !== 401) {
        say('parcel-error', GP.guard.problemText(r));
      }
    });
  }

  // ---- shift handover ----

  function setupHandover() {
    let last = null;
    const fill = (id, rows, line) => {
      const ul = GP.clear($(id));
      if (!rows || !rows.length) ul.appendChild(GP.el('li', null, GP.t('desk.handover.none')));
      (rows || []).forEach((x) => ul.appendChild(line(x)));
    };
    const render = () => {
      const h = last;
      if (!h) return;
      $('handover-when').textContent = GP.t('desk.handover.when', { t: gateTime(h.at), name: h.operator || '' });
      $('handover-parcels').textContent = GP.t('desk.handover.parcels', { n: h.parcels_waiting || 0 });
      fill('handover-visitors', h.visitors_inside, (x) =>
        GP.el(
          'li',
          null,
          GP.t('desk.handover.visitor_item', {
            name: x.name || '',
            plate: x.plate ? ' ' + x.plate : '',
            h: x.host || '',
            since: gateTime(x.since),
          })
        )
      );
      fill('handover-exceptions', h.exceptions_not_back, (x) =>
        GP.el(
          'li',
          { class: x.late ? 'overdue' : '' },
          GP.t('desk.handover.exception_item', {
            name: x.name,
            h: x.household,
            reason: x.reason || '',
            dest: x.destination || '',
            t: gateTime(x.expected_return, false),
          }),
          x.late ? ' · ' + GP.t('desk.handover.late') : ''
        )
      );
      fill('handover-referrals', h.referrals, (x) =>
        GP.el(
          'li',
          { class: 'overdue' },
          GP.t('desk.handover.referral_item', {
            name: x.name || GP.t('answer.unknown_person'),
            h: x.household || '',
            t: gateTime(x.at),
            c: x.temperature_c === null || x.temperature_c === undefined ? '—' : Number(x.temperature_c).toFixed(1),
          })
        )
      );
      fill('handover-out', h.out, (x) =>
        GP.el(
          'li',
          { class: x.overdue ? 'overdue' : '' },
          GP.t('desk.handover.out_item', { name: x.name, h: x.household, since: gateTime(x.since) }),
          ' · ',
          GP.t('guard.out.minutes', { n: x.minutes })
        )
      );
    };
    onOpen.handover = async () => {
      say('handover-error', '');
      const r = await GP.api('GET', '/api/v1/handover');
      if (r.ok && r.data) {
        last = r.data;
        render();
      } else if (r.status !== 401) {
        say('handover-error', GP.guard.problemText(r));
      }
    };
    GP.onLang(render);
  }

  document.addEventListener('DOMContentLoaded', () => {
    if (!GP.guard) return;
    document.querySelectorAll('.desk-btn').forEach((b) => b.addEventListener('click', () => openSheet(b.dataset.sheet)));
    document.querySelectorAll('.sheet-close').forEach((b) => b.addEventListener('click', () => closeSheet()));
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && openName) closeSheet();
    });
    setupVisit();
    setupNoCard();
    setupException();
    setupParcel();
    setupHandover();
  });
})();
