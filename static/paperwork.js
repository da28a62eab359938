// paperwork.js (issue 12): the committee page's one-person changes (add a
// resident, move, moved out / deceased, phone), the home-visit tab
// (visits due and missed, fevers at home, returnees) and the books tab
// (ledger and other books as Excel, the ledger's print page). Loaded before
// committee.js, which picks up GP.committeeTabs and GP.residentActions.
'use strict';
(function () {
  const GP = (window.GP = window.GP || {});
  const $ = (id) => document.getElementById(id);
  const T = (k, v) => GP.t(k, v);
  const el = (...a) => GP.el(...a);
  const today = () => {
    const d = new Date();
    return d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0');
  };

  function table(t, keys, rows, emptyKey) {
    GP.clear(t);
    t.appendChild(el('thead', null, el('tr', null, keys.map((k) => el('th', null, T(k))))));
    const b = el('tbody');
    rows.forEach((r) =>
      b.appendChild(
        el(
          'tr',
          null,
          r.map((c, i) => {
            const td = c instanceof Node && c.tagName === 'TD' ? c : el('td', null, c);
            td.dataset.label = T(keys[i]); // the column's name when a phone reflows the row
            return td;
          })
        )
      )
    );
    if (!rows.length) b.appendChild(el('tr', null, el('td', { colSpan: keys.length }, T(emptyKey))));
    t.appendChild(b);
  }

  // ---- one person at a time ----

  // The 更多 (more) button of a register row: phone, move, moved out, deceased.
  GP.residentActions = function (res, reload) {
    const wrap = el('span', { class: 'more' });
    const open = el('button', { type: 'button', class: 'more-open' }, T('person.more'));
    const panel = el('div', { class: 'more-panel' });
    panel.hidden = true;
    open.addEventListener('click', () => {
      panel.hidden = !panel.hidden;
      if (!panel.hidden) fill();
    });
    const msg = el('span', { class: 'form-error' });
    const done = (r) => {
      if (r.ok) reload();
      else msg.textContent = GP.errorText(r);
    };
    function fill() {
      GP.clear(panel);
      const phone = el('input', { type: 'tel', class: 'person-phone', size: 12, placeholder: T('person.phone.new'), 'aria-label': T('person.phone.new') });
      const savePhone = el('button', { type: 'button', class: 'person-phone-save' }, T('person.phone.save'));
      savePhone.addEventListener('click', async () => done(await GP.api('PUT', '/api/v1/residents/' + res.id + '/phone', { phone: phone.value })));
      const to = el('input', { class: 'person-move-to', list: 'household-codes', size: 8, placeholder: T('person.move.to'), 'aria-label': T('person.move.to') });
      const move = el('button', { type: 'button', class: 'person-move' }, T('person.move'));
      move.addEventListener('click', async () => {
        if (!to.value.trim()) return to.focus();
        done(await GP.api('POST', '/api/v1/residents/' + res.id + '/move', { household: to.value.trim() }));
      });
      const leave = (reason) => {
        const b = el('button', { type: 'button', class: 'danger person-' + reason }, T('person.left.' + reason));
        b.addEventListener('click', () => {
          // asked in place: the person's card stops working
          const yes = el('button', { type: 'button', class: 'danger person-left-yes' }, T('person.left.yes', { r: GP.revokeReason(reason) }));
          const no = el('button', { type: 'button' }, T('common.cancel'));
          const box = el('div', { class: 'confirm-box', role: 'alertdialog' }, [el('p', null, T('person.left.confirm', { name: res.name, r: GP.revokeReason(reason) })), yes, ' ', no]);
          yes.addEventListener('click', async () => done(await GP.api('POST', '/api/v1/residents/' + res.id + '/left', { reason })));
          no.addEventListener('click', () => box.remove());
          panel.appendChild(box);
          no.focus();
        });
        return b;
      };
      panel.append(
        el('div', { class: 'more-line' }, [phone, savePhone]),
        el('div', { class: 'more-line' }, [to, move]),
        el('div', { class: 'more-line' }, [leave('moved_out'), leave('deceased')]),
        msg
      );
    }
    wrap.append(' ', open, panel);
    return wrap;
  };

  function setupAdd() {
    const f = $('add-form');
    if (!f) return;
    const cat = $('add-category');
    const fillCats = () => {
      const v = cat.value || 'normal';
      GP.clear(cat);
      GP.CATEGORIES.forEach((c) => cat.appendChild(el('option', { value: c, selected: c === v }, GP.category(c))));
    };
    fillCats();
    GP.onLang(fillCats);
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = {};
      ['household', 'name', 'phone', 'category', 'address', 'grid'].forEach((k) => (body[k] = f.elements[k].value.trim()));
      const r = await GP.api('POST', '/api/v1/residents', body);
      $('add-result').className = 'status-line ' + (r.ok ? 'ok-text' : 'form-error');
      $('add-result').textContent = r.ok ? T('person.add.done', { name: r.data.name, household: r.data.household }) : GP.errorText(r);
      if (r.ok) {
        f.elements.name.value = '';
        f.elements.phone.value = '';
        document.querySelector('[data-tab=register]').click();
      }
    });
  }

  // ---- home visits ----

  let home = null;
  let fevers = [];

  async function loadHome() {
    const [h, a] = await Promise.all([GP.api('GET', '/api/v1/followups/home'), GP.api('GET', '/api/v1/alerts')]);
    if (h.ok) home = h.data;
    if (a.ok) fevers = a.data.followup_fevers || [];
    renderHome();
  }

  const daysLeft = (until) => (until ? Math.max(0, Math.ceil((new Date(until + 'T23:59:59') - new Date()) / 86400000)) : '');

  function renderHome() {
    if (!home) return;
    $('home-times').textContent = T('vol.times', { times: home.times.join('、') });
    const rows = [];
    home.people.forEach((p) =>
      p.due.forEach((d) =>
        rows.push([
          el('td', { class: 'name' }, p.name),
          el('td', { class: 'code' }, p.household),
          p.grid,
          d.due_at.slice(5),
          el('span', { class: d.state === 'missed' ? 'dec-deny' : 'dec-refer' }, T('home.state.' + d.state)),
          p.monitor || '',
          p.last_visit ? p.last_visit.slice(5) + ' ' + (p.last_temperature_c ?? '') : T('vol.fact.never'),
        ])
      )
    );
    table($('home-due-table'), ['col.name', 'col.household', 'col.grid', 'home.col.due', 'col.status', 'home.col.monitor', 'home.col.last'], rows, 'home.due.empty');
    table(
      $('home-fever-table'),
      ['col.at', 'col.name', 'col.household', 'col.temp', 'home.col.symptoms', 'home.col.by'],
      fevers.map((f) => [GP.fmtTime(f.at), el('td', { class: 'name' }, f.name), el('td', { class: 'code' }, f.household), Number(f.temperature_c).toFixed(1), f.symptoms, GP.auditActor(f.actor)]),
      'home.fever.empty'
    );
    table(
      $('home-returnees-table'),
      ['col.name', 'col.household', 'home.col.origin', 'home.col.arrived', 'home.col.left', 'home.col.monitor'],
      home.people
        .filter((p) => p.arrived)
        .map((p) => [el('td', { class: 'name' }, p.name), el('td', { class: 'code' }, p.household), p.origin || '', p.arrived, T('home.days', { n: daysLeft(p.observation_until) }), p.monitor || '']),
      'home.returnees.empty'
    );
  }

  // ---- books ----

  function setupBooks() {
    const d = $('ledger-date');
    if (!d) return;
    const links = () => {
      const q = '/api/v1/ledger?date=' + encodeURIComponent(d.value || today());
      $('ledger-xlsx').href = q + '&format=xlsx';
      $('ledger-print').href = q + '&format=html';
      $('followup-xlsx').href = '/api/v1/export/followups.xlsx?date=' + encodeURIComponent($('followup-date').value || today());
    };
    d.value = today();
    $('followup-date').value = today();
    d.addEventListener('input', links);
    $('followup-date').addEventListener('input', links);
    links();
  }

  // ---- the audit trail in sentences ----

  GP.auditName = (code) => (GP.has('audit.name.' + code) ? T('audit.name.' + code) : code);

  // "committee:张主任" -> "社区 张主任"
  GP.auditActor = (actor) => {
    const m = /^([a-z]+):(.*)$/.exec(actor || '');
    // the gate itself: the command line, a join, a sync, gatepass at start
    if (!m) return GP.has('audit.actor.' + actor) ? T('audit.actor.' + actor) : actor || '';
    return (GP.has('role.' + m[1]) ? T('role.' + m[1]) : m[1]) + ' ' + m[2];
  };

  const POLICY_KEYS = ['fever_c', 'max_members_out', 'outings_per_period', 'period_days', 'hours', 'max_outing_minutes', 'require_temperature', 'timezone', 'anti_passback', 'observation_days'];

  function policyWords(doc) {
    const parts = [];
    POLICY_KEYS.forEach((k) => {
      if (doc[k] === undefined || doc[k] === null) return;
      let v = doc[k];
      if (k === 'anti_passback') v = v ? T('common.yes') : T('common.no');
      if (k === 'require_temperature' && GP.has('rules.require.' + v)) v = T('rules.require.' + v);
      // the form's label without its hint in brackets ("允许外出时间（如 06:00-20:00）")
      const label = GP.has('rules.' + k) ? T('rules.' + k).replace(/（[^）]*）|\([^)]*\)/g, '') : k;
      parts.push(label + ' ' + v);
    });
    if (Array.isArray(doc.slots)) {
      parts.push(
        doc.slots.length
          ? T('audit.slots', { list: doc.slots.map((s) => (s.grids || s.households || []).join('、') + ' ' + GP.slotDays(s.days) + ' ' + s.hours).join('；') })
          : T('audit.slots.none')
      );
    }
    return parts.join(GP.lang() === 'zh' ? '，' : ', ');
  }

  // One audit row as a sentence: the template of its action with the
  // detail's fields put into words (codes through the dictionary).
  GP.auditSentence = function (a) {
    const d = a.detail && typeof a.detail === 'object' ? Object.assign({}, a.detail) : {};
    if (a.action === 'policy.set') return T('audit.text.policy.set', { changes: policyWords(d) || '—' });
    const key = 'audit.text.' + a.action;
    if (!GP.has(key)) return typeof a.detail === 'string' ? a.detail : JSON.stringify(a.detail);
    if (d.reason) d.reason = GP.revokeReason(d.reason);
    if (d.to && GP.CATEGORIES.includes(d.to)) d.to = GP.category(d.to);
    if (d.from && GP.CATEGORIES.includes(d.from)) d.from = GP.category(d.from);
    if (d.category) d.category = GP.category(d.category);
    if (d.role) d.role = GP.has('role.' + d.role) ? T('role.' + d.role) : d.role;
    if (d.result) d.result = GP.has('directive.result.' + d.result) ? T('directive.result.' + d.result) : d.result;
    if (d.scope) d.scope = GP.has('audit.scope.' + d.scope) ? T('audit.scope.' + d.scope) : d.scope;
    if (d.expires_at) d.expires_at = GP.fmtTime(d.expires_at);
    d.until = d.until ? T('audit.until', { d: d.until }) : '';
    d.note = d.note ? T('audit.note', { n: d.note }) : '';
    d.fever = d.fever ? T('audit.fever') : '';
    d.household = d.household || '';
    let s = T(key, d);
    // a field the event did not carry leaves no "{x}" behind
    return s.replace(/\{[a-z_]+\}/g, '').replace(/\s+([，。,.）])/g, '$1').replace(/\s{2,}/g, ' ').trim();
  };

  GP.committeeTabs = {
    home: { load: loadHome, render: renderHome },
    books: { load: () => {}, render: () => {} },
  };

  document.addEventListener('DOMContentLoaded', () => {
    setupAdd();
    setupBooks();
    const r = $('home-refresh');
    if (r) r.addEventListener('click', loadHome);
  });
})();
