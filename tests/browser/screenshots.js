// screenshots.js: takes the README screenshots from a running demo.
// usage: node screenshots.js http://127.0.0.1:18080 DEMO_DIR/cards/passes.csv OUT_DIR
'use strict';
const path = require('path');
const { launch, readPasses, login } = require('./lib');

async function scan(page, payload, temp) {
  if (temp !== undefined) await page.fill('#temp-input', String(temp));
  await page.fill('#scan-input', payload);
  await page.press('#scan-input', 'Enter');
  await page.waitForSelector('#answer:not([hidden])');
  await page.waitForTimeout(150);
}

async function dismiss(page) {
  await page.click('#answer');
  await page.waitForSelector('#answer', { state: 'hidden' });
}

(async () => {
  const [base, csv, out] = process.argv.slice(2);
  const passes = readPasses(csv);
  const by = (name) => passes.find((p) => p.name === name);
  const browser = await launch();
  const ctx = await browser.newContext({ viewport: { width: 800, height: 480 }, locale: 'zh-CN' });
  const page = await ctx.newPage();
  page.on('console', (m) => console.log('console:', m.text()));
  page.on('pageerror', (e) => console.log('pageerror:', e.message));

  await page.goto(base + '/login');
  await page.screenshot({ path: path.join(out, 'login.png') });

  await login(page, base, 'guard', '1234');
  await page.waitForTimeout(500);
  await page.screenshot({ path: path.join(out, 'guard-idle.png') });
  await scan(page, by('赵磊').payload, 36.5);
  await page.screenshot({ path: path.join(out, 'guard-allow.png') });
  await dismiss(page);
  await scan(page, by('黄丽').payload, 36.4);
  await page.screenshot({ path: path.join(out, 'guard-deny.png') });
  await dismiss(page);
  await scan(page, by('赵磊').payload, 38.2);
  await page.screenshot({ path: path.join(out, 'guard-refer.png') });
  await dismiss(page);
  await scan(page, 'GP1:NOT-A-REAL-PASS');
  await page.screenshot({ path: path.join(out, 'guard-forged.png') });
  await dismiss(page);
  await page.route('**/api/v1/scan', (r) =>
    r.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"log_unavailable","message":"the entry log cannot be written (disk full)"}' })
  );
  await scan(page, by('张伟').payload);
  await page.screenshot({ path: path.join(out, 'guard-unavailable.png') });
  await dismiss(page);
  await page.unroute('**/api/v1/scan');
  await page.click('.lang-switch');
  await scan(page, by('陈静').payload, 36.6);
  await page.screenshot({ path: path.join(out, 'guard-deny-en.png') });
  await dismiss(page);
  await page.click('.lang-switch');

  const c2 = await browser.newContext({ viewport: { width: 1100, height: 760 }, locale: 'zh-CN' });
  const p2 = await c2.newPage();
  p2.on('pageerror', (e) => console.log('pageerror:', e.message));
  await login(p2, base, 'committee', 'committee');
  await p2.waitForSelector('#register-table tbody tr');
  const csv2 = '户号,地址,网格,姓名,电话,类别\n5-101,5号楼101室,第五网格,<script>alert(1)</script>,13900000000,居家隔离\n5-101,5号楼101室,第五网格,,13900000001,正常\n5-102,5号楼102室,第五网格,钱多,13900000002,未知类别\n';
  await p2.setInputFiles('#import-file', { name: 'register.csv', mimeType: 'text/csv', buffer: Buffer.from(csv2) });
  await p2.click('#import-form button[type=submit]');
  await p2.waitForSelector('#import-rejections li');
  await p2.fill('#register-filter', '隔离');
  await p2.waitForTimeout(300);
  await p2.screenshot({ path: path.join(out, 'committee-register.png') });
  await p2.click('[data-tab=passes]');
  await p2.waitForSelector('#passes-table tbody tr');
  await p2.screenshot({ path: path.join(out, 'committee-passes.png') });
  for (const t of ['rules', 'out', 'alerts', 'audit', 'tokens']) {
    await p2.click('[data-tab=' + t + ']');
    await p2.waitForTimeout(300);
    await p2.screenshot({ path: path.join(out, 'committee-' + t + '.png') });
  }
  await browser.close();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
