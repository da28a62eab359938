// volunteer.js (issue 12): the volunteer's phone page. Lists the people
// kept home (居家隔离) in the chosen grid with their follow-up state, and
// records a visit: temperature, symptoms, a note. Chinese first.
'use strict';
(function () {
  const GP = window.GP;
  const $ = (id) => document.getElementById(id);
  const T = (k, v) => GP.t(k, v);
  const el = GP.el;
  const GRID_KEY = 'gp.volunteer.grid';
  const SYMPTOMS = ['cough', 'sore_throat', 'fatigue', 'diarrhea', 'no_smell'];

  let data = null;

  const savedGrid = () => {
    try {
      return localStorage.getItem(GRID_KEY) || '';
    } catch (_) {
      return '';
    }
  };

  async function load() {
    const r = await GP.api('GET', '/api/v1/followups/home');
    $('vol-error').textContent = r.ok ? '' : GP.errorText(r);
    if (!r.ok) return;
    data = r.data;
    render();
  }

  // Days of home observation left, counting today.
  function daysLeft(until) {
    if (!until) return null;
    const end = new Date(until + 'T23:59:59');
    return Math.max(0, Math.ceil((end - new Date()) / 86400000));
  }

  function stateChip(p) {
    const missed = p.due.filter((d) => d.state === 'missed').length;
    const due = p.due.some((d) => d.state === 'due');
    if (missed) return el('span', { class: 'vchip vchip-bad' }, T('vol.missed', { n: missed }));
    if (due) return el('span', { class: 'vchip vchip-due' }, T('vol.due'));
    if (!p.last_visit) return el('span', { class: 'vchip vchip-wait' }, T('vol.not_yet'));
    return el('span', { class: 'vchip vchip-ok' }, T('vol.done'));
  }

  function visitForm(p, li) {
    const temp = el('input', {
      type: 'number',
      step: '0.1',
      min: '34',
      max: '43',
      inputmode: 'decimal',
      required: true,
      class: 'vol-temp',
      'aria-label': T('vol.temp'),
      placeholder: '36.5',
    });
    const chips = SYMPTOMS.map((s) =>
      el('label', { class: 'vol-sym' }, [el('input', { type: 'checkbox', value: s }), el('span', null, T('vol.sym.' + s))])
    );
    const other = el('input', { class: 'vol-other', placeholder: T('vol.symptoms.other'), 'aria-label': T('vol.symptoms.other') });
    const note = el('input', { class: 'vol-note', placeholder: T('vol.note'), 'aria-label': T('vol.note') });
    const save = el('button', { type: 'submit', class: 'primary big' }, T('vol.save'));
    const cancel = el('button', { type: 'button' }, T('common.cancel'));
    const msg = el('p', { class: 'form-error', role: 'status' });
    const form = el('form', { class: 'vol-form' }, [
      el('label', { class: 'vol-field' }, [el('span', null, T('vol.temp')), temp]),
      el('fieldset', { class: 'vol-syms' }, [el('legend', null, T('vol.symptoms')), ...chips, other]),
      el('label', { class: 'vol-field' }, [el('span', null, T('vol.note')), note]),
      msg,
      el('div', { class: 'vol-actions' }, [save, cancel]),
    ]);
    cancel.addEventListener('click', () => form.remove());
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const t = Number(temp.value);
      if (!temp.value || !(t >= 34 && t <= 43)) {
        msg.textContent = T('vol.temp.need');
        temp.focus();
        return;
      }
      const words = chips.filter((c) => c.firstChild.checked).map((c) => T('vol.sym.' + c.firstChild.value));
      if (other.value.trim()) words.push(other.value.trim());
      save.disabled = true;
      const r = await GP.api('POST', '/api/v1/followups', {
        resident_id: p.resident_id,
        temperature_c: t,
        symptoms: words.join('、'),
        note: note.value.trim(),
      });
      save.disabled = false;
      if (!r.ok) {
        msg.textContent = GP.errorText(r);
        return;
      }
      form.remove();
      li.appendChild(
        el('p', { class: r.data.fever ? 'vol-saved vol-fever' : 'vol-saved' }, r.data.fever ? T('vol.saved.fever', { t }) : T('vol.saved', { t }))
      );
      setTimeout(load, 1500);
    });
    return form;
  }

  function render() {
    if (!data) return;
    $('vol-times').textContent = T('vol.times', { times: data.times.join('、') });
    const grids = Array.from(new Set(data.people.map((p) => p.grid || ''))).sort();
    const sel = GP.clear($('vol-grid'));
    const want = savedGrid();
    sel.appendChild(el('option', { value: '' }, T('vol.grid.all')));
    grids.filter(Boolean).forEach((g) => sel.appendChild(el('option', { value: g, selected: g === want }, g)));
    const grid = sel.value;
    const list = GP.clear($('vol-list'));
    const people = data.people
      .filter((p) => !grid || p.grid === grid)
      .sort((a, b) => b.due.length - a.due.length || String(a.household).localeCompare(String(b.household)));
    if (!people.length) list.appendChild(el('li', { class: 'vol-empty' }, T('vol.empty')));
    people.forEach((p) => {
      const left = daysLeft(p.observation_until);
      const li = el('li', { class: 'vol-person' });
      const rec = el('button', { type: 'button', class: 'primary vol-record' }, T('vol.record'));
      rec.addEventListener('click', () => {
        if (li.querySelector('form')) return;
        li.querySelectorAll('.vol-saved').forEach((n) => n.remove());
        const f = visitForm(p, li);
        li.appendChild(f);
        f.querySelector('.vol-temp').focus();
      });
      li.append(
        el('div', { class: 'vol-head' }, [
          el('span', { class: 'vol-name' }, p.name),
          el('span', { class: 'vol-hh' }, p.household),
          stateChip(p),
        ]),
        el(
          'div',
          { class: 'vol-facts' },
          [
            p.grid ? T('vol.fact.grid', { g: p.grid }) : null,
            p.monitor ? T('vol.fact.monitor', { m: p.monitor }) : null,
            left !== null ? T('vol.fact.left', { n: left }) : null,
            p.last_visit ? T('vol.fact.last', { at: p.last_visit.slice(5), t: p.last_temperature_c ?? '—' }) : T('vol.fact.never'),
          ]
            .filter(Boolean)
            .join(' · ')
        ),
        rec
      );
      list.appendChild(li);
    });
  }

  document.addEventListener('DOMContentLoaded', async () => {
    const me = await GP.me();
    if (me) $('who').textContent = me.name;
    $('vol-grid').addEventListener('change', () => {
      try {
        localStorage.setItem(GRID_KEY, $('vol-grid').value);
      } catch (_) {
        /* not remembered */
      }
      render();
    });
    $('vol-refresh').addEventListener('click', load);
    GP.onLang(render);
    load();
  });
})();
