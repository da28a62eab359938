// lib.js: shared helpers for the browser scripts: launch Debian's chromium
// through playwright-core, read the demo's passes.csv, log in through the
// login page.
'use strict';
const fs = require('fs');
const { chromium } = require('playwright-core');

function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) if (fs.existsSync(p)) return p;
  return 'chromium';
}

async function launch() {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

// passes.csv: pass_id,household,name,payload -> [{pass_id, household, name, payload}]
function readPasses(file) {
  const lines = fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '').trim().split(/\r?\n/);
  const head = lines.shift().split(',');
  return lines.map((l) => {
    const cells = l.split(',');
    const o = {};
    head.forEach((h, i) => (o[h.trim()] = (cells[i] || '').trim()));
    return o;
  });
}

async function login(page, base, name, password, next) {
  await page.goto(base + '/login' + (next ? '?next=' + encodeURIComponent(next) : ''));
  await page.fill('#login-name', name);
  await page.fill('#login-password', password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.click('button[type=submit]')]);
}

module.exports = { launch, readPasses, login };
