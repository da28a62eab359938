// district.js: the district pages in chromium, run by tests/browser.rs
// against a running `gatepass district serve` holding one imported gate
// file. Under the pages' own Content-Security-Policy (no bypass): logs in,
// finds the gate listed (its name, which holds markup, shown as text),
// checks the day's figures against what was scanned, finds the fever in
// the alerts, traces the resident to their crossings and switches to
// English. Prints one line per step; exit 1 on the first failure.
// usage: node district.js BASE_URL EXPECT_JSON
//   EXPECT_JSON: {"user","password","gate","community","date",
//                 "counts":{"exits",..},"resident","crossings","contact","fever"}
'use strict';
const { launch } = require('./lib');

const [base, expectJson] = process.argv.slice(2);
const want = JSON.parse(expectJson);
setTimeout(() => {
  console.error('FAIL: district browser test took over 35 s');
  process.exit(1);
}, 35000).unref();

function expect(cond, what, got) {
  if (!cond) throw new Error(what + (got === undefined ? '' : ', got ' + JSON.stringify(got)));
  console.log('ok   ' + what.replace(/^expected /, ''));
}

const cells = async (row) => (await row.locator('td').allTextContents()).map((s) => s.trim());

(async () => {
  const browser = await launch();
  try {
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 760 }, locale: 'zh-CN' });
    const page = await ctx.newPage();
    const problems = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));

    // ---- login ----
    await page.goto(base + '/');
    expect(new URL(page.url()).pathname === '/login', 'expected the pages to send a stranger to the login', page.url());
    await page.fill('#login-name', want.user);
    await page.fill('#login-password', 'wrong');
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    expect((await page.locator('.error').count()) === 1, 'expected a wrong password to be refused on the page');
    await page.fill('#login-name', want.user);
    await page.fill('#login-password', want.password);
    await Promise.all([page.waitForURL((u) => u.pathname === '/'), page.click('button[type=submit]')]);
    problems.length = 0; // the refused login above is a 401 in the console
    const policy = (await (await page.reload()).allHeaders())['content-security-policy'] || '';
    expect(/script-src 'self'/.test(policy) && /style-src 'self'/.test(policy), 'expected the strict CSP header', policy);

    // ---- gates ----
    const gateRow = page.locator('main tr', { hasText: want.community });
    expect((await gateRow.count()) === 1, 'expected the gate listed once', await gateRow.count());
    const g = await cells(gateRow);
    expect(g[0] === want.gate, 'expected the gate name shown as text, markup and all', g[0]);
    expect((await page.locator('main td b').count()) === 0, 'expected no element made from the gate name');
    expect(g.includes('仅编号'), 'expected "ids only" for a gate that does not share names', g);

    // ---- daily figures ----
    await page.click('header a[href^="/daily"]');
    await page.fill('input[type=date]', want.date);
    await Promise.all([page.waitForNavigation(), page.click('main form button')]);
    expect((await page.locator('h1').textContent()).includes(want.date), 'expected the chosen day in the heading');
    const d = await cells(page.locator('main tr', { hasText: want.community }));
    const c = want.counts;
    const shown = d.slice(2).map(Number);
    const expected = [c.exits, c.entries, c.denied, c.fever, c.overdue];
    expect(JSON.stringify(shown) === JSON.stringify(expected), 'expected the day\'s figures ' + JSON.stringify(expected), shown);
    const total = (await cells(page.locator('tr.total'))).slice(2).map(Number);
    expect(JSON.stringify(total) === JSON.stringify(expected), 'expected the same totals', total);
    const bars = await page.locator('figure svg rect[fill]').count();
    expect(bars >= 4, 'expected the charts drawn', bars);

    // ---- fever alerts ----
    await page.click('header a[href^="/alerts"]');
    const alert = page.locator('main tr', { hasText: want.fever });
    expect((await alert.count()) >= 1, 'expected the fever ' + want.fever + ' in the alerts');

    // ---- trace ----
    await page.click('header a[href^="/trace"]');
    await page.fill('input[name=resident]', String(want.resident));
    await Promise.all([page.waitForNavigation(), page.click('main form button')]);
    const crossings = page.locator('main table').first().locator('tr', { hasText: want.community });
    expect((await crossings.count()) === want.crossings, 'expected ' + want.crossings + ' crossings traced', await crossings.count());
    const text = await page.locator('main').textContent();
    expect(text.includes(String(want.contact)), 'expected the contact ' + want.contact + ' listed', text.slice(0, 400));

    // ---- English ----
    await page.click('header a:text("English")');
    expect((await page.locator('h1').textContent()) === 'Trace a case', 'expected the English switch');
    expect(new URL(page.url()).searchParams.get('resident') === String(want.resident), 'expected the switch to keep the search');

    expect(problems.length === 0, 'expected no console errors or CSP violations', problems);
    console.log('PASS');
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error('FAIL: ' + e.message);
  process.exit(1);
});
