// district-screenshots.js: the district pages' screenshots, from a running
// `gatepass district serve` with a clerk login.
// Writes login, gates, daily, alerts, trace and English daily views, each
// at 1100x760 and full-page (-full); docs/screenshots keeps three.
// usage: node district-screenshots.js BASE_URL USER PASSWORD OUT_DIR [DATE] [RESIDENT]
'use strict';
const path = require('path');
const { launch } = require('./lib');

(async () => {
  const [base, user, password, out, date, resident] = process.argv.slice(2);
  const browser = await launch();
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 760 }, locale: 'zh-CN' });
  const page = await ctx.newPage();
  page.on('console', (m) => console.log('console:', m.type(), m.text()));
  page.on('pageerror', (e) => console.log('pageerror:', e.message));
  const shot = async (name, full) => {
    await page.screenshot({ path: path.join(out, name + '.png'), fullPage: !!full });
    console.log('wrote', name);
  };
  await page.goto(base + '/login');
  await shot('district-login');
  await page.fill('input[name=name]', user);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.click('button')]);
  const q = date ? '&date=' + date : '';
  for (const [name, url] of [
    ['district-gates', '/?lang=zh' + q],
    
    
    ['district-daily', '/daily?lang=zh' + q],
    ['district-alerts', '/alerts?lang=zh'],
    ['district-trace', '/trace?lang=zh&resident=' + (resident || '')],
    ['district-daily-en', '/daily?lang=en' + q],
  ]) {
    const res = await page.goto(base + url);
    console.log(url, res.status());
    await shot(name);
    await shot(name + '-full', true);
  }
  await browser.close();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
