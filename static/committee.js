// committee.js: the committee pages, one tab each: register (CSV upload,
// residents with their category and its end date), passes (issue, card
// sheet, revoke with a reason), rules, who is out, alerts, audit trail and
// API tokens. Data is fetched when a tab opens and re-rendered from memory
// on a language switch. Everything shown goes in as text (GP.el).
'use strict';
(function () {
  const GP = window.GP;
  const $ = (id) => document.getElementById(id);
  const T = (k, v) => GP.t(k, v);
  const el = GP.el;

  // Fills a <table> with a header row (dictionary keys) and rows. A row is
  // {cells: [...], class, dataset} or a plain array of cells.
  function fillTable(table, headKeys, rows, emptyKey) {
    GP.clear(table);
    table.appendChild(el('thead', null, el('tr', null, headKeys.map((k) => el('th', null, T(k))))));
    const body = el('tbody');
    rows.forEach((r) => {
      const row = Array.isArray(r) ? { cells: r } : r;
      body.appendChild(
        el(
          'tr',
          { class: row.class, dataset: row.dataset },
          row.cells.map((c, i) => {
            const td = c instanceof Node && c.tagName === 'TD' ? c : el('td', null, c);
            // issue 12: on a phone a row reflows into lines, each with its column's name
            if (headKeys[i] && !td.dataset.label) td.dataset.label = T(headKeys[i]);
            return td;
          })
        )
      );
    });
    if (!rows.length && emptyKey) body.appendChild(el('tr', null, el('td', { colSpan: headKeys.length }, T(emptyKey))));
    table.appendChild(body);
  }

  const KEPT = ['home_quarantine', 'isolated', 'confirmed', 'suspected', 'fever', 'close_contact'];
  const decision = (d) => el('span', { class: 'dec-' + d }, GP.has('decision.' + d) ? T('decision.' + d) : d);
  const dirText = (d) => (d ? T('guard.dir.' + d) : '');
  const today = () => {
    const d = new Date();
    return d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0');
  };
  const matches = (q, ...fields) => !q || fields.some((f) => f !== null && f !== undefined && String(f).toLowerCase().includes(q));

  // ---- register ----

  let households = null;

  async function loadRegister() {
    const r = await GP.api('GET', '/api/v1/households');
    $('register-error').textContent = r.ok ? '' : GP.errorText(r);
    if (!r.ok) return;
    households = r.data;
    const codes = GP.clear($('household-codes'));
    households.households.forEach((h) => codes.appendChild(el('option', { value: h.code })));
    renderRegister();
  }

  function residentRow(res) {
    const select = el(
      'select',
      { 'aria-label': T('col.category') },
      GP.CATEGORIES.map((c) => el('option', { value: c, selected: c === res.category }, GP.category(c)))
    );
    const tint = () => (select.className = KEPT.includes(select.value) ? 'cat-kept' : select.value === 'essential' ? 'cat-essential' : '');
    tint();
    select.addEventListener('change', tint);
    const until = el('input', { type: 'date', value: res.category_until || '', 'aria-label': T('col.until') });
    const status = el('span', { class: 'ok-text' });
    const save = el('button', { type: 'button', disabled: true }, T('common.save'));
    const changed = () => {
      save.disabled = select.value === res.category && until.value === (res.category_until || '');
      status.textContent = '';
    };
    select.addEventListener('change', changed);
    until.addEventListener('input', changed);
    save.addEventListener('click', async () => {
      save.disabled = true;
      const r = await GP.api('PUT', '/api/v1/residents/' + res.id + '/category', {
        category: select.value,
        until: until.value || null,
      });
      if (r.ok) {
        res.category = r.data.category;
        res.category_until = r.data.until;
        status.className = 'ok-text';
        status.textContent = T('common.saved');
      } else {
        status.className = 'form-error';
        status.textContent = GP.errorText(r);
        save.disabled = false;
      }
    });
    // issue 12: one-person changes (paperwork.js); a resident who left is shown, not changed
    if (res.left) {
      return {
        class: 'left',
        cells: ['', el('td', { class: 'name' }, res.name), res.phone || '', GP.revokeReason(res.left), '', ''],
        dataset: { residentId: res.id },
      };
    }
    const more = GP.residentActions ? GP.residentActions(res, loadRegister) : '';
    return {
      cells: ['', el('td', { class: 'name' }, res.name), res.phone || '', select, until, el('td', { class: 'actions' }, save, ' ', status, more)],
      dataset: { residentId: res.id },
    };
  }

  function renderRegister() {
    if (!households) return;
    $('register-summary').textContent = T('register.summary', {
      h: households.household_count,
      r: households.resident_count,
    });
    const q = $('register-filter').value.trim().toLowerCase();
    const rows = [];
    households.households.forEach((h) => {
      const hit = matches(q, h.code, h.address, h.grid);
      const rs = h.residents.filter((r) => hit || matches(q, r.name, r.category, GP.category(r.category)));
      if (!rs.length) return;
      const where = [h.address, h.grid].filter(Boolean).join(' · ');
      rows.push({ class: 'hh-head', cells: [el('td', { class: 'code' }, h.code), el('td', { colSpan: 5 }, where)] });
      rs.forEach((r) => rows.push(residentRow(r)));
    });
    fillTable(
      $('register-table'),
      ['col.household', 'col.name', 'col.phone', 'col.category', 'col.until', 'col.action'],
      rows
    );
  }

  // Codes and parameters from the import, in words: a column key becomes
  // its header name, a file kind its description.
  function words(params) {
    const v = Object.assign({}, params || {});
    if (v.column && GP.has('col.' + v.column)) v.column = T('col.' + v.column);
    if (v.kind && GP.has('import.kind.' + v.kind)) v.kind = T('import.kind.' + v.kind);
    return v;
  }

  function rejectionText(x) {
    const key = 'import.reject.' + x.code;
    const why = GP.has(key) ? T(key, words(x.params)) : x.reason;
    return T('register.rejection', { line: x.line, reason: why });
  }

  function importErrorText(d) {
    const key = 'import.error.' + d.code;
    return GP.has(key) ? T(key, words(d.params)) : T('common.error', { msg: d.message });
  }

  function setupRegister() {
    $('register-filter').addEventListener('input', renderRegister);
    $('import-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const f = $('import-file').files[0];
      const out = $('import-result');
      const list = GP.clear($('import-rejections'));
      if (!f) {
        out.textContent = T('register.upload.nofile');
        return;
      }
      const sheet = $('import-sheet').value.trim();
      const path = '/api/v1/households/import' + (sheet ? '?sheet=' + encodeURIComponent(sheet) : '');
      // The gate tells CSV (UTF-8, GBK) from .xlsx by the bytes; the
      // content-type is what the upload check expects, whatever the file.
      const r = await GP.api('POST', path, await f.arrayBuffer(), { raw: true, type: 'text/csv' });
      if (!r.ok) {
        out.textContent = r.data && r.data.code ? importErrorText(r.data) : GP.errorText(r);
        return;
      }
      out.textContent = T('register.result', r.data);
      r.data.rejections.forEach((x) => list.appendChild(el('li', null, rejectionText(x))));
      loadRegister();
    });
  }

  // ---- passes ----

  let passes = null;

  async function loadPasses() {
    const r = await GP.api('GET', '/api/v1/passes');
    $('passes-error').textContent = r.ok ? '' : GP.errorText(r);
    if (!r.ok) return;
    passes = r.data.passes;
    renderPasses();
  }

  // issue 12: reasons are codes; the page shows them in words
  const REVOKE_REASONS = ['lost', 'damaged', 'moved_out', 'deceased', 'other'];
  const REISSUE_REASONS = ['lost', 'damaged', 'other'];
  const reasonSelect = (codes, cls) =>
    el('select', { class: cls, 'aria-label': T('passes.revoke.reason') }, codes.map((c) => el('option', { value: c }, GP.revokeReason(c))));

  // A button that opens a small form in its cell: a reason list, confirm,
  // cancel (which puts the cell's buttons back with `restore`).
  function reasonButton(td, label, cls, codes, send, restore) {
    const start = el('button', { type: 'button', class: cls }, label);
    start.addEventListener('click', () => {
      const reason = reasonSelect(codes, cls.split(' ').pop() + '-reason');
      const ok = el('button', { type: 'button', class: 'danger ' + cls.split(' ').pop() + '-confirm' }, T('passes.revoke.confirm'));
      const cancel = el('button', { type: 'button' }, T('common.cancel'));
      const msg = el('span', { class: 'form-error' });
      ok.addEventListener('click', async () => {
        ok.disabled = true;
        const r = await send(reason.value);
        if (r.ok) {
          loadPasses();
        } else {
          msg.textContent = GP.errorText(r);
          ok.disabled = false;
        }
      });
      cancel.addEventListener('click', restore);
      GP.clear(td).append(reason, ' ', ok, ' ', cancel, ' ', msg);
      reason.focus();
    });
    return start;
  }

  function actionCell(p, canReissue) {
    const td = el('td', { class: 'actions' });
    const fill = () => {
      GP.clear(td);
      if (!p.revoked_at) {
        td.append(
          reasonButton(td, T('passes.revoke'), 'danger revoke', REVOKE_REASONS, (reason) =>
            GP.api('POST', '/api/v1/passes/' + p.pass_id + '/revoke', { reason }), fill),
          ' '
        );
      }
      if (canReissue) {
        td.append(
          reasonButton(td, T('passes.reissue'), 'reissue', REISSUE_REASONS, (reason) =>
            GP.api('POST', '/api/v1/residents/' + p.resident_id + '/reissue', { reason }), fill)
        );
      }
    };
    fill();
    return td;
  }

  function renderPasses() {
    if (!passes) return;
    const q = $('passes-filter').value.trim().toLowerCase();
    const active = passes.filter((p) => !p.revoked_at).length;
    $('passes-summary').textContent = T('passes.count', { n: passes.length, a: active });
    // 补办 on the newest card of each person (active, or revoked with no
    // active card left)
    const newest = {};
    passes.forEach((p) => {
      const n = newest[p.resident_id];
      if (!n || (!p.revoked_at && n.revoked_at) || (!!p.revoked_at === !!n.revoked_at && p.issued_at > n.issued_at)) newest[p.resident_id] = p;
    });
    const rows = passes
      .slice()
      .sort((a, b) => String(a.household).localeCompare(String(b.household)) || a.pass_id - b.pass_id)
      .filter((p) => matches(q, p.pass_id, p.name, p.household))
      .map((p) => ({
        class: p.revoked_at ? 'revoked' : '',
        dataset: { passId: p.pass_id },
        cells: [
          String(p.pass_id),
          p.name || '',
          el('td', { class: 'code' }, p.household || ''),
          p.valid_from + ' – ' + p.valid_until,
          el(
            'td',
            { class: 'status' },
            p.revoked_at ? T('passes.revoked', { reason: GP.revokeReason(p.revoke_reason) }) : T('passes.active')
          ),
          actionCell(p, newest[p.resident_id] === p && p.name),
        ],
      }));
    fillTable(
      $('passes-table'),
      ['col.pass_id', 'col.name', 'col.household', 'col.valid', 'col.status', 'col.action'],
      rows
    );
  }

  function updateSheetLink() {
    const hh = $('issue-household').value.trim();
    const link = $('sheet-household');
    link.hidden = !hh;
    link.href = '/api/v1/passes/sheet?household=' + encodeURIComponent(hh);
  }

  function setupPasses() {
    $('issue-from').value = today();
    $('passes-filter').addEventListener('input', renderPasses);
    $('issue-household').addEventListener('input', () => {
      document.querySelector('input[name=issue-scope][value=household]').checked = true;
      updateSheetLink();
    });
    $('issue-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const scope = document.querySelector('input[name=issue-scope]:checked').value;
      const hh = $('issue-household').value.trim();
      const out = $('issue-result');
      if (scope === 'household' && !hh) {
        out.textContent = T('passes.issue.need_household');
        return;
      }
      const body = {
        scope,
        valid_from: $('issue-from').value || null,
        valid_days: Number($('issue-days').value) || null,
      };
      if (scope === 'household') body.household = hh;
      const send = async () => {
        const r = await GP.api('POST', '/api/v1/passes/issue', body);
        out.textContent = r.ok
          ? T('passes.issue.done', { n: r.data.issued })
          : r.data && r.data.error === 'nothing_to_issue'
            ? T('passes.issue.nothing')
            : GP.errorText(r);
        if (r.ok) loadPasses();
      };
      if (scope !== 'all') return send();
      // everyone: name how many printed cards stop working, and ask
      const c = await GP.api('GET', '/api/v1/passes/valid-count');
      if (!c.ok) {
        out.textContent = GP.errorText(c);
        return;
      }
      const n = c.data.valid_cards;
      const box = $('issue-confirm');
      $('issue-confirm-text').textContent = T('passes.issue.confirm_all', { n });
      $('issue-confirm-yes').textContent = T('passes.issue.confirm_yes', { n });
      box.hidden = false;
      $('issue-confirm-no').focus();
      $('issue-confirm-yes').onclick = () => {
        box.hidden = true;
        body.confirm = n;
        send();
      };
      $('issue-confirm-no').onclick = () => {
        box.hidden = true;
        out.textContent = T('passes.issue.cancelled');
      };
    });
  }

  // ---- rules ----

  const NUMBERS = ['fever_c', 'max_members_out', 'outings_per_period', 'period_days', 'max_outing_minutes'];

  async function loadRules() {
    const r = await GP.api('GET', '/api/v1/policy');
    const out = $('rules-result');
    if (!r.ok) {
      out.textContent = GP.errorText(r);
      return;
    }
    out.textContent = '';
    const f = $('rules-form');
    const rows = GP.clear($('slot-rows'));
    (r.data.slots || []).forEach((sl) => rows.appendChild(slotRow(sl)));
    for (const [k, v] of Object.entries(r.data)) {
      const input = f.elements[k];
      if (!input) continue;
      if (input.type === 'checkbox') input.checked = !!v;
      else if (k === 'hours' && /^(\d\d:\d\d)-\1$/.test(v)) input.value = '00:00-24:00'; // start = end: all day
      else input.value = v;
    }
  }

  // One staggered-outing slot: who (grids or household patterns), days, hours.
  // Its inputs are named slot-*: the form's own `hours` must stay one element.
  function slotRow(sl) {
    const byHousehold = sl && sl.households && sl.households.length && !(sl.grids && sl.grids.length);
    const who = el('select', { 'aria-label': T('slots.who'), name: 'slot-who' }, [
      el('option', { value: 'grids', selected: !byHousehold }, T('slots.by_grid')),
      el('option', { value: 'households', selected: byHousehold }, T('slots.by_household')),
    ]);
    const names = el('input', {
      name: 'slot-names',
      value: sl ? (byHousehold ? sl.households : sl.grids || []).join(', ') : '',
      placeholder: T('slots.names.ph'),
      'aria-label': T('slots.names'),
      required: true,
    });
    const days = el('input', { name: 'slot-days', value: sl ? sl.days : 'mon,wed,fri', placeholder: 'mon,wed,fri / odd / even', 'aria-label': T('slots.days'), required: true });
    const hours = el('input', { name: 'slot-hours', value: sl ? sl.hours : '08:00-10:00', pattern: '\\d{2}:\\d{2}-\\d{2}:\\d{2}', 'aria-label': T('slots.hours'), required: true });
    const remove = el('button', { type: 'button', class: 'small' }, T('slots.remove'));
    const row = el('div', { class: 'slot-row' }, [
      el('label', null, [el('span', null, T('slots.who')), who]),
      el('label', null, [el('span', null, T('slots.names')), names]),
      el('label', null, [el('span', null, T('slots.days')), days]),
      el('label', null, [el('span', null, T('slots.hours')), hours]),
      remove,
    ]);
    remove.addEventListener('click', () => row.remove());
    return row;
  }

  function readSlot(row) {
    const q = (n) => row.querySelector('[name="' + n + '"]').value.trim();
    const list = q('slot-names').split(/[,，、\s]+/).filter(Boolean);
    const sl = { days: q('slot-days'), hours: q('slot-hours') };
    sl[q('slot-who')] = list;
    return sl;
  }

  function setupRules() {
    $('slot-add').addEventListener('click', () => $('slot-rows').appendChild(slotRow(null)));
    $('rules-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const f = $('rules-form');
      const doc = {};
      NUMBERS.forEach((k) => (doc[k] = Number(f.elements[k].value)));
      doc.hours = f.elements.hours.value.trim();
      doc.require_temperature = f.elements.require_temperature.value;
      doc.timezone = f.elements.timezone.value.trim();
      doc.anti_passback = f.elements.anti_passback.checked;
      if (f.elements.observation_days.value !== '') doc.observation_days = Number(f.elements.observation_days.value);
      doc.slots = Array.from($('slot-rows').children).map(readSlot);
      const r = await GP.api('PUT', '/api/v1/policy', doc);
      $('rules-result').textContent = r.ok ? T('rules.saved') : GP.errorText(r);
      $('rules-result').className = 'status-line ' + (r.ok ? 'ok-text' : 'form-error');
    });
  }

  // ---- who is out ----

  let out = null;

  async function loadOut() {
    const r = await GP.api('GET', '/api/v1/out');
    if (!r.ok) {
      $('out-summary').textContent = GP.errorText(r);
      return;
    }
    out = r.data;
    renderOut();
  }

  function renderOut() {
    if (!out) return;
    $('out-summary').textContent = T('out.summary', { n: out.count, o: out.overdue_count, m: out.max_outing_minutes });
    fillTable(
      $('out-table'),
      ['col.name', 'col.household', 'col.since', 'col.minutes', 'col.status'],
      out.out.map((p) => ({
        class: p.overdue ? 'overdue' : '',
        cells: [p.name, p.household, GP.fmtTime(p.since), String(p.minutes), p.overdue ? T('out.overdue') : ''],
      })),
      'out.empty'
    );
  }

  // ---- alerts ----

  let alerts = null;

  let conflicts = null;

  async function loadAlerts() {
    const [r, c] = await Promise.all([GP.api('GET', '/api/v1/alerts'), GP.api('GET', '/api/v1/conflicts')]);
    if (r.ok) alerts = r.data.alerts;
    if (c.ok) conflicts = c.data.conflicts;
    renderAlerts();
  }

  // Two gates that could not see each other let through together what a
  // rule forbids (docs/gates.md): shown only when there are any.
  function renderConflicts() {
    const panel = $('conflicts-panel');
    panel.hidden = !conflicts || !conflicts.length;
    if (panel.hidden) return;
    fillTable(
      $('conflicts-table'),
      ['col.at', 'conflicts.rule', 'col.household', 'conflicts.first', 'conflicts.second'],
      conflicts.map((c) => [
        GP.fmtTime(new Date(c.at_ms).toISOString()),
        GP.has('conflicts.rule.' + c.rule) ? T('conflicts.rule.' + c.rule) : T('conflicts.rule.other'),
        c.household,
        T('conflicts.event', { gate: c.first_gate, seq: c.first_seq }),
        T('conflicts.event', { gate: c.second_gate, seq: c.second_seq }),
      ]),
      'conflicts.empty'
    );
  }

  function renderAlerts() {
    renderConflicts();
    if (!alerts) return;
    fillTable(
      $('alerts-table'),
      ['col.at', 'col.decision', 'col.direction', 'col.reasons', 'col.name', 'col.household', 'col.temp'],
      alerts.map((a) => [
        GP.fmtTime(a.at),
        decision(a.decision),
        dirText(a.direction),
        a.reasons.map(GP.reason).concat(a.warnings.map(GP.warning)).join('；'),
        a.name || '',
        a.household || '',
        a.temperature_c === null || a.temperature_c === undefined ? '' : Number(a.temperature_c).toFixed(1),
      ]),
      'alerts.empty'
    );
  }

  // On a gate joined to the community (not its first directory) the
  // register, passes and rules are copies: say so, and where to change them.
  async function showJoined() {
    const r = await GP.api('GET', '/api/v1/health');
    const c = r.ok && r.data && r.data.committee;
    if (!c || c.first_directory) return;
    const first = (r.data.peers || []).map((p) => p.gate)[0] || '';
    const n = $('joined-notice');
    n.textContent = T('joined.notice', { first, url: c.joined_from || '' });
    n.hidden = false;
    document.body.classList.add('joined-gate');
  }

  // ---- trace: a case's crossings at this gate and who was there ----

  let traced = null;

  async function runTrace(query) {
    const qs = new URLSearchParams(query);
    qs.set('days', $('trace-days').value);
    const r = await GP.api('GET', '/api/v1/trace?' + qs.toString());
    const code = !r.ok && r.data && r.data.error;
    $('trace-error').textContent = r.ok
      ? ''
      : code === 'unknown_resident'
        ? T('trace.unknown')
        : code === 'usage' || code === 'bad_request'
          ? T('trace.bad')
          : GP.errorText(r);
    traced = r.ok ? r.data : null;
    renderTrace();
  }

  function renderTrace() {
    const box = $('trace-matches');
    GP.clear(box);
    box.hidden = true;
    $('trace-summary').textContent = '';
    GP.clear($('trace-table'));
    if (!traced) return;
    if (!traced.trace) {
      // a shared name: the committee picks the person
      box.hidden = false;
      box.appendChild(el('span', null, T('trace.pick')));
      traced.matches.forEach((m) => {
        const b = el('button', { type: 'button' }, m.name + ' · ' + m.household);
        b.addEventListener('click', () => runTrace({ resident: m.id }));
        box.appendChild(b);
      });
      return;
    }
    const t = traced.trace;
    $('trace-summary').textContent = T('trace.summary', {
      name: t.resident.name,
      household: t.resident.household,
      n: t.crossings.length,
      contacts: t.distinct_contacts,
      window: t.window_minutes,
    });
    const rows = [];
    t.crossings.forEach((c) => {
      rows.push({
        class: 'trace-case',
        cells: [GP.fmtTime(c.at), c.gate, dirText(c.direction), decision(c.decision), t.resident.name, c.household || ''],
      });
      c.contacts.forEach((k) => {
        const apart = k.minutes_apart >= 0 ? '+' + Math.round(k.minutes_apart) : String(Math.round(k.minutes_apart));
        rows.push({
          class: 'trace-contact',
          cells: [
            T('trace.apart', { m: apart }),
            k.gate,
            dirText(k.direction),
            decision(k.decision),
            k.name || T('trace.unnamed', { id: k.resident_id }),
            k.household || '',
          ],
        });
      });
    });
    fillTable(
      $('trace-table'),
      ['col.at', 'col.gate', 'col.direction', 'col.decision', 'col.name', 'col.household'],
      rows,
      'trace.empty'
    );
  }

  function setupTrace() {
    $('trace-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const q = { name: $('trace-name').value.trim() };
      const h = $('trace-household').value.trim();
      if (h) q.household = h;
      runTrace(q);
    });
  }

  // ---- audit ----

  let audit = null;

  let clog = null;

  async function loadAudit() {
    const [r, l] = await Promise.all([GP.api('GET', '/api/v1/audit'), GP.api('GET', '/api/v1/committee/log')]);
    if (r.ok) audit = r.data.audit;
    $('clog-position').textContent = l.ok ? '' : GP.errorText(l);
    if (l.ok) clog = l.data;
    renderAudit();
  }

  // the committee log: every committee change, signed by the community,
  // the same at every gate (at a joined gate: as far as it has reached)
  function renderClog() {
    if (!clog) return;
    $('clog-position').textContent = T('clog.position', { version: clog.version, head: clog.log_head });
    fillTable(
      $('clog-table'),
      ['col.seq', 'col.at', 'col.actor', 'col.action', 'col.detail'],
      clog.records.map((a) => [
        String(a.seq),
        GP.fmtTime(a.at),
        GP.auditActor(a.actor),
        GP.auditName(a.action),
        el('td', { class: 'sentence' }, GP.auditSentence(a)),
      ]),
      'audit.empty'
    );
  }

  function renderAudit() {
    if (!audit) return;
    fillTable(
      $('audit-table'),
      ['col.at', 'col.actor', 'col.action', 'col.detail'],
      audit.map((a) =>
        GP.auditSentence // issue 12: actions and details as sentences (paperwork.js)
          ? [GP.fmtTime(a.at), GP.auditActor(a.actor), GP.auditName(a.action), el('td', { class: 'sentence' }, GP.auditSentence(a))]
          : [GP.fmtTime(a.at), a.actor, a.action, el('td', { class: 'detail' }, typeof a.detail === 'string' ? a.detail : JSON.stringify(a.detail))]
      ),
      'audit.empty'
    );
    renderClog();
  }

  // ---- tokens ----

  let tokens = null;
  let tls = null;

  async function loadTokens() {
    const [r, t] = await Promise.all([GP.api('GET', '/api/v1/tokens'), GP.api('GET', '/api/v1/tls')]);
    $('tokens-error').textContent = r.ok ? '' : GP.errorText(r);
    if (r.ok) tokens = r.data.tokens;
    if (t.ok) tls = t.data;
    renderTokens();
  }

  // The gate's certificate: guards compare this fingerprint with the one
  // the phone shows the first time it warns about the certificate.
  function renderTls() {
    if (!tls) return;
    const mode = { off: 'tls.off', 'self-signed': 'tls.self_signed', files: 'tls.files' }[tls.mode] || 'tls.off';
    $('tls-mode').textContent = T(mode);
    $('tls-fingerprint').textContent = tls.certificate
      ? T('tls.fingerprint', { fp: tls.certificate.fingerprint_sha256 })
      : tls.problem
        ? T('tls.unreadable')
        : T('tls.none');
  }

  function renderTokens() {
    renderTls();
    if (!tokens) return;
    fillTable(
      $('tokens-table'),
      ['col.id', 'col.role', 'col.token_name', 'col.created', 'col.status', 'col.action'],
      tokens.map((t) => {
        let action = '';
        if (!t.revoked_at) {
          action = el('button', { type: 'button', class: 'danger' }, T('tokens.revoke'));
          action.addEventListener('click', async () => {
            const r = await GP.api('POST', '/api/v1/tokens/' + encodeURIComponent(t.id) + '/revoke', {});
            $('tokens-error').textContent = r.ok ? '' : GP.errorText(r);
            loadTokens();
          });
        }
        return {
          class: t.revoked_at ? 'revoked' : '',
          cells: [
            el('td', { class: 'detail' }, t.id),
            GP.has('role.' + t.role) ? T('role.' + t.role) : t.role,
            t.name,
            GP.fmtTime(t.created_at),
            t.revoked_at ? T('tokens.revoked') : T('tokens.active'),
            action,
          ],
        };
      }),
      'tokens.empty'
    );
  }

  function setupTokens() {
    $('token-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const r = await GP.api('POST', '/api/v1/tokens', { role: $('token-role').value, name: $('token-name').value.trim() });
      if (!r.ok) {
        $('tokens-error').textContent = GP.errorText(r);
        return;
      }
      $('token-value').textContent = r.data.token;
      $('token-new').hidden = false;
      $('token-name').value = '';
      loadTokens();
    });
  }

  // ---- tabs ----

  const TABS = {
    register: { load: loadRegister, render: renderRegister },
    passes: { load: loadPasses, render: renderPasses },
    rules: { load: loadRules, render: () => {} },
    out: { load: loadOut, render: renderOut },
    alerts: { load: loadAlerts, render: renderAlerts },
    trace: { load: () => {}, render: renderTrace },
    audit: { load: loadAudit, render: renderAudit },
    tokens: { load: loadTokens, render: renderTokens },
  };
  Object.assign(TABS, GP.committeeTabs || {}); // issue 12: home visits and books (paperwork.js)
  let current = null;

  function show(name) {
    if (!TABS[name]) name = 'register';
    current = name;
    document.querySelectorAll('[role=tab]').forEach((b) => b.setAttribute('aria-selected', String(b.dataset.tab === name)));
    document.querySelectorAll('[role=tabpanel]').forEach((p) => (p.hidden = p.id !== 'tab-' + name));
    if (location.hash !== '#' + name) history.replaceState(null, '', '#' + name);
    if (name !== 'tokens') $('token-new').hidden = true; // a token is shown once
    TABS[name].load();
  }

  document.addEventListener('DOMContentLoaded', async () => {
    document.querySelectorAll('[role=tab]').forEach((b) => b.addEventListener('click', () => show(b.dataset.tab)));
    ['out', 'alerts', 'audit'].forEach((n) => $(n + '-refresh').addEventListener('click', () => TABS[n].load()));
    setupRegister();
    setupPasses();
    setupRules();
    setupTokens();
    setupTrace();
    GP.onLang(() => current && TABS[current].render());
    setInterval(() => current === 'out' && loadOut(), 30000);
    showJoined();
    const me = await GP.me();
    if (!me) return;
    $('who').textContent = me.name + ' · ' + me.community;
    show(location.hash.slice(1));
  });
})();
