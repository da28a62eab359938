// sound.js: short audible cues for the guard page, made with WebAudio (no
// sound files). Allow: two rising beeps; deny: a low buzz; refer (hold):
// three urgent mid beeps. Browsers only allow sound after a user gesture,
// so the context is created on the first key press or tap.
'use strict';
(function () {
  const GP = (window.GP = window.GP || {});
  let ctx = null;

  function unlock() {
    if (ctx) {
      if (ctx.state === 'suspended') ctx.resume();
      return;
    }
    const AC = window.AudioContext || window.webkitAudioContext;
    if (AC) ctx = new AC();
  }
  ['keydown', 'pointerdown', 'touchstart'].forEach((ev) => window.addEventListener(ev, unlock, { capture: true }));

  function tone(freq, start, dur, type) {
    const o = ctx.createOscillator();
    const g = ctx.createGain();
    o.type = type;
    o.frequency.value = freq;
    const t0 = ctx.currentTime + start;
    g.gain.setValueAtTime(0.0001, t0);
    g.gain.exponentialRampToValueAtTime(0.4, t0 + 0.01);
    g.gain.setValueAtTime(0.4, t0 + dur - 0.03);
    g.gain.exponentialRampToValueAtTime(0.0001, t0 + dur);
    o.connect(g).connect(ctx.destination);
    o.start(t0);
    o.stop(t0 + dur + 0.02);
  }

  const CUES = {
    allow: [
      [880, 0, 0.12, 'sine'],
      [1320, 0.15, 0.18, 'sine'],
    ],
    deny: [[180, 0, 0.7, 'square']],
    refer: [
      [660, 0, 0.14, 'triangle'],
      [660, 0.22, 0.14, 'triangle'],
      [660, 0.44, 0.14, 'triangle'],
    ],
  };

  GP.cue = function (kind) {
    if (!ctx) return;
    try {
      (CUES[kind] || CUES.deny).forEach(([f, s, d, t]) => tone(f, s, d, t));
    } catch (_) {
      /* no sound is better than a broken page */
    }
  };
})();
