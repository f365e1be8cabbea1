/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// (page.evaluate callbacks run in the browser: they use the DOM's types.)
/**
 * The web console in a real browser (headless Chromium from npm), against a
 * real server (dist/cli.js serve on SQLite) with traffic flowing: what a
 * person sees. Every page is watched for JavaScript errors, console errors,
 * failed requests and dialogs; each test ends by checking there were none
 * beyond the API refusals it causes on purpose.
 *
 * CONSOLE_SCREENSHOTS=docs (`npm run screenshots`) also writes
 * docs/console.png and docs/console-phone.png.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import type { Browser, ElementHandle, Page } from 'puppeteer-core';
import { launchBrowser } from './helpers/browser.js';
import { nextValue, runCli, startServer, type RunningServer } from './helpers/cli.js';
import { tempDir } from './helpers/temp.js';

/** `<` and `>` are allowed in names (only control characters are not): the issue's own hostile name. */
const XSS_NAME = '<img src=x onerror=alert(1)>';
const BIG = '9007199254740993'; // 2^53 + 1: a JS number would show 9007199254740992
const PHONE = { width: 390, height: 844, isMobile: true, hasTouch: true, deviceScaleFactor: 1 };
const WAIT_MS = 20_000;
const screenshots = process.env.CONSOLE_SCREENSHOTS;

interface Watched {
  readonly page: Page;
  /** Everything that went wrong in the browser, as lines. */
  readonly problems: string[];
  /** The API's refusals (status ≥ 400), as "STATUS METHOD PATH". */
  readonly refusals: string[];
}

// One test with subtests: the server and the browser live as long as the parent test. A browser that
// hangs fails the test after 5 minutes (it takes about 10 s) instead of holding the whole run.
it('the web console in a browser, against a real server with traffic flowing', { timeout: 300_000 }, async (t) => {

  const api = async (method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; text: string }> => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const response = await fetch(`${server.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: response.status, text: await response.text() };
  };

  /** A new tab (its own sessionStorage), watched from the start. */
  const open = async (viewport?: typeof PHONE): Promise<Watched> => {
    const page = await browser.newPage();
    if (viewport !== undefined) await page.setViewport(viewport);
    const problems: string[] = [];
    const refusals: string[] = [];
    page.on('pageerror', (error) => problems.push(`page error: ${String(error)}`));
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warn') problems.push(`console ${message.type()}: ${message.text()}`);
    });
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.method()} ${request.url()} ${request.failure()?.errorText ?? ''}`));
    page.on('dialog', (dialog) => {
      problems.push(`dialog opened: ${dialog.type()} ${dialog.message()}`);
      void dialog.dismiss();
    });
    page.on('response', (response) => {
      if (response.status() >= 400) refusals.push(`${response.status()} ${response.request().method()} ${decodeURIComponent(new URL(response.url()).pathname)}`);
    });
    return { page, problems, refusals };
  };

  /**
   * No problem in the browser but the refusals expected (each "STATUS METHOD
   * PATH"), and the console's "Failed to load resource" line for each of them.
   */
  const assertClean = async (watched: Watched, expected: readonly string[] = []): Promise<void> => {
    await watched.page.close();
    assert.deepEqual([...new Set(watched.refusals)].sort(), [...new Set(expected)].sort(), 'the API refusals the page met');
    const statuses = new Set(expected.map((line) => line.split(' ')[0]));
    const unexpected = watched.problems.filter((line) => {
      const status = /^console error: Failed to load resource: the server responded with a status of (\d+)/.exec(line)?.[1];
      return status === undefined || !statuses.has(status);
    });
    assert.deepEqual(unexpected, [], 'errors, failed requests or dialogs in the browser');
  };

  const textOf = (page: Page, selector: string): Promise<string> => page.$eval(selector, (element) => element.textContent);

  /** The table row of `name` (its cells' text by data-label), once it is shown. */
  const rowOf = async (page: Page, name: string): Promise<Record<string, string>> => {
    const read = (wanted: string): Record<string, string> | null => {
      const row = [...document.querySelectorAll('.sequence-table tbody tr')].find((tr) => tr.querySelector('th a')?.textContent === wanted);
      if (row === undefined) return null;
      return Object.fromEntries([...row.querySelectorAll('[data-label]')].map((cell) => [cell.getAttribute('data-label') ?? '', cell.textContent]));
    };
    await page.waitForFunction(read, { timeout: WAIT_MS }, name);
    const cells = await page.evaluate(read, name);
    assert.ok(cells !== null);
    return cells;
  };

  /** Opens `name`'s page, asks to reset it to `value`, and returns the confirmation's button. */
  const askReset = async (page: Page, name: string, value: string): Promise<ElementHandle> => {
    await page.goto(`${server.url}/console#/sequence/${encodeURIComponent(name)}`);
    await page.waitForSelector('input[name="next_value"]', { timeout: WAIT_MS });
    await page.type('input[name="next_value"]', value);
    await page.click('form[aria-labelledby="reset-title"] button[type="submit"]');
    const confirm = await page.waitForSelector('.confirm:not([hidden]) button', { timeout: WAIT_MS });
    assert.ok(confirm !== null);
    return confirm;
  };

  const waitForRate = (page: Page, name: string): Promise<unknown> =>
    page.waitForFunction(
      (wanted) => {
        const row = [...document.querySelectorAll('.sequence-table tbody tr')].find((tr) => tr.querySelector('th a')?.textContent === wanted);
        return /^[1-9]\d*(\.\d+)?\/s$|^0\.\d*[1-9]\d*\/s$/.test(row?.querySelector('.rate')?.textContent ?? '');
      },
      { timeout: WAIT_MS },
      name,
    );

  const store = `sqlite:${join(tempDir(), 'console.db')}`;
  const server: RunningServer = await startServer({ store });
  const browser: Browser = await launchBrowser();
  assert.equal((await api('PUT', `/sequences/${encodeURIComponent(XSS_NAME)}`, {})).status, 201);
  assert.equal((await api('PUT', '/sequences/big', { start: BIG, min_value: BIG })).status, 201);
  // Traffic: one client taking numbers of `orders` back to back, for the whole test (with a token once they exist).
  let trafficToken: string | undefined;
  // Set while the first token is being created: the server may start asking for tokens (its reload, every
  // 2 s) before the test has read the new token from the CLI; a tokenless request refused then is sent again.
  const tokensComing = { now: false };
  const stopTraffic = new AbortController();
  const traffic = (async () => {
    while (!stopTraffic.signal.aborted) {
      const sentToken = trafficToken;
      const response = await fetch(`${server.url}/next/orders`, {
        method: 'POST',
        headers: sentToken === undefined ? {} : { authorization: `Bearer ${sentToken}` },
      });
      const text = await response.text();
      if (response.status === 401 && tokensComing.now && sentToken === undefined) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        continue;
      }
      if (response.status !== 200) throw new Error(`POST /next/orders answered ${response.status}: ${text}`);
    }
  })();
  await nextValue(server.url, 'orders');
  try {
    await t.test('shows the sequences by name on first load, with their exact values, and a live rate that becomes non-zero', async () => {
      // For the pictures, let the charts gather half a minute of traffic first.
      if (screenshots !== undefined) await new Promise((resolve) => setTimeout(resolve, 30_000));
      const watched = await open();
      await watched.page.goto(`${server.url}/console`);
      const orders = await rowOf(watched.page, 'orders');
      assert.match(orders['Next value'] ?? '', /^\d+$/);
      const big = await rowOf(watched.page, 'big');
      assert.equal(big['Next value'], BIG, 'a 64-bit value above 2^53 shows exactly');
      await waitForRate(watched.page, 'orders');
      // The overview: store, version and uptime in the header, a chart per series.
      assert.match(await textOf(watched.page, '#store'), /^SQLite .*console\.db$/);
      assert.equal((await watched.page.$$('.chart .uplot')).length, 6);
      if (screenshots !== undefined) await watched.page.screenshot({ path: join(screenshots, 'console.png'), fullPage: true });
      await assertClean(watched);
    });

    await t.test('shows a hostile name as text and runs nothing, in the table and on its detail page', async () => {
      const watched = await open();
      await watched.page.goto(`${server.url}/console`);
      await rowOf(watched.page, XSS_NAME);
      await watched.page.click(`a[href="#/sequence/${encodeURIComponent(XSS_NAME)}"]`);
      await watched.page.waitForFunction(() => document.querySelector('.facts dd') !== null, { timeout: WAIT_MS });
      assert.equal(await textOf(watched.page, '#detail-title .name'), XSS_NAME);
      assert.equal(await watched.page.$$eval('img', (images) => images.length), 0, 'no <img> element was made from the name');
      await assertClean(watched);
    });

    await t.test('resets a sequence from the page (with a confirmation step): the API then hands out the value set', async () => {
      assert.equal((await api('PUT', '/sequences/reset-me', {})).status, 201);
      await nextValue(server.url, 'reset-me');
      const watched = await open();
      const { page } = watched;
      const confirm = await askReset(page, 'reset-me', '5000');
      assert.match(await textOf(page, '#reset-question'), /Set the next value of “reset-me” to 5000\?/);
      assert.equal(await nextValue(server.url, 'reset-me'), 2n, 'nothing changes before the confirmation');
      await confirm.click();
      await page.waitForFunction(() => document.querySelector('.notice.done')?.textContent.includes('next value is 5000') === true, { timeout: WAIT_MS });
      assert.equal(await nextValue(server.url, 'reset-me'), 5000n);
      await assertClean(watched);
    });

    await t.test('shows an API refusal with its code and message', async () => {
      const watched = await open();
      const { page } = watched;
      await (await askReset(page, 'reset-me', '1')).click();
      const notice = await page.waitForSelector('.notice.error', { timeout: WAIT_MS });
      assert.match((await notice?.evaluate((element) => element.textContent)) ?? '', /^would_reissue \(409\): Resetting 'reset-me' to 1 moves it back/);
      await assertClean(watched, ['409 POST /sequences/reset-me/reset']);
    });

    await t.test('renders at phone width without scrolling sideways', async () => {
      const watched = await open(PHONE);
      const { page } = watched;
      await page.goto(`${server.url}/console`);
      await waitForRate(page, 'orders');
      const overflow = (): Promise<number> => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.equal(await overflow(), 0, 'the list scrolls sideways');
      if (screenshots !== undefined) await page.screenshot({ path: join(screenshots, 'console-phone.png') });
      await page.goto(`${server.url}/console#/sequence/orders`);
      await page.waitForSelector('input[name="next_value"]', { timeout: WAIT_MS });
      assert.equal(await overflow(), 0, 'the detail page scrolls sideways');
      await assertClean(watched);
    });

    await t.test('with tokens: asks for one, and a read token sees the sequences but its action buttons are disabled with the reason', async () => {
      const lastLine = (text: string): string => text.trimEnd().split('\n').pop() ?? '';
      tokensComing.now = true;
      const admin = await runCli(['token', 'create', '--name', 'console-admin', '--scope', 'admin', '--store', store]);
      trafficToken = lastLine(admin.stdout);
      const reader = await runCli(['token', 'create', '--name', 'console-viewer', '--scope', 'read', '--store', store]);
      assert.equal(admin.code, 0, admin.stderr);
      assert.equal(reader.code, 0, reader.stderr);
      // Servers reload the tokens every 2 seconds: wait until this one asks for a token and knows the read one.
      const readToken = lastLine(reader.stdout);
      await waitUntil(async () => (await api('GET', '/sequences')).status === 401);
      await waitUntil(async () => (await api('GET', '/sequences', undefined, readToken)).status === 200);

      const watched = await open();
      const { page } = watched;
      await page.goto(`${server.url}/console`);
      await page.waitForSelector('#token-form:not([hidden])', { timeout: WAIT_MS });
      assert.match(await textOf(page, '#token-message'), /needs an API token/);
      await page.type('#token-input', readToken);
      await page.click('#token-form button[type="submit"]');
      assert.match((await rowOf(page, 'orders'))['Next value'] ?? '', /^\d+$/);
      await waitForRate(page, 'orders');
      assert.equal(await page.evaluate(() => sessionStorage.length), 1, 'the token is kept in sessionStorage');
      assert.equal(await page.evaluate(() => localStorage.length), 0, 'and nowhere else');

      await page.click('a[href="#/sequence/orders"]');
      const reason = await page.waitForSelector('#reset-reason', { timeout: WAIT_MS });
      assert.match((await reason?.evaluate((element) => element.textContent)) ?? '', /cannot change sequences: The token 'console-viewer' lacks the 'admin' scope/);
      const buttons = await page.$$eval('.actions button[type="submit"]', (elements) => elements.map((element) => element.disabled));
      assert.deepEqual(buttons, [true, true, true], 'reset, delete and save are disabled');
      // The page learned the scopes from GET /token: no request refused on purpose beyond the first, tokenless ones.
      await assertClean(watched, ['401 GET /stats', '401 GET /sequences']);
    });

    await t.test('with an admin token the action buttons are enabled and nothing is refused', async () => {
      const adminToken = trafficToken;
      assert.ok(adminToken !== undefined, 'the previous test created the admin token');
      const watched = await open();
      const { page } = watched;
      await page.goto(`${server.url}/console`);
      await page.waitForSelector('#token-form:not([hidden])', { timeout: WAIT_MS });
      await page.type('#token-input', adminToken);
      await page.click('#token-form button[type="submit"]');
      await rowOf(page, 'orders');
      await page.click('a[href="#/sequence/orders"]');
      await page.waitForSelector('input[name="confirm_name"]', { timeout: WAIT_MS });
      assert.equal(await page.$$eval('.actions .reason', (elements) => elements.length), 0, 'no reason is shown');
      const enabled = (): Promise<boolean[]> => page.$$eval('.actions button[type="submit"]', (elements) => elements.map((element) => !element.disabled));
      assert.deepEqual(await enabled(), [true, false, true], 'reset and save are enabled; delete waits for the name');
      await page.type('input[name="confirm_name"]', 'orders');
      assert.deepEqual(await enabled(), [true, true, true], 'delete is enabled once the name is typed');
      await assertClean(watched, ['401 GET /stats', '401 GET /sequences']);
    });
  } finally {
    stopTraffic.abort();
    try {
      // Rethrows a failure of the traffic, after which the browser and the server must still go.
      await traffic;
    } finally {
      await browser.close();
      await server.stop();
    }
  }
});

/** Polls `condition` every 100 ms until it holds (at most 10 s). */
async function waitUntil(condition: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error('the condition did not hold within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
