// The web console against a real `eai run`, in Debian's Chromium: sign in,
// find an envelope rejected PRODUCT_NOT_FOUND by filtering, read its code and
// suggested action, add the missing mapping, retry it and see it turn ok; a
// viewer sees no retry button; a POST without the CSRF token is refused; an
// e-mail alert target is saved and validated against a local SMTP sink.
// Screenshots of each page go to $EAI_SCREENSHOTS.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import net from 'node:net';

const base = process.env.EAI_CONSOLE_URL;
const operator = process.env.EAI_OPERATOR_TOKEN;
const viewer = process.env.EAI_VIEWER_TOKEN;
const shots = process.env.EAI_SCREENSHOTS;
const document = 'console-order-1';
const product = 'sku-console-1';
assert.ok(base && operator && viewer && shots, 'EAI_CONSOLE_URL, EAI_OPERATOR_TOKEN, EAI_VIEWER_TOKEN and EAI_SCREENSHOTS are required');
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const shoot = (page, name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });

// A local SMTP server that takes every message and keeps it (envelope and data).
function smtpSink() {
  const received = [];
  const server = net.createServer((socket) => {
    let buffer = '';
    let data = null;
    const mail = { rcpt: [], data: '' };
    socket.write('220 sink ESMTP\r\n');
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      let end;
      while ((end = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (data !== null) {
          if (line === '.') {
            mail.data = data;
            received.push({ ...mail });
            data = null;
            socket.write('250 queued\r\n');
          } else {
            data += `${line}\n`;
          }
        } else if (/^(EHLO|HELO)/i.test(line)) {
          socket.write('250 sink\r\n');
        } else if (/^RCPT TO:/i.test(line)) {
          mail.rcpt.push(line.slice(8).trim());
          socket.write('250 ok\r\n');
        } else if (/^DATA/i.test(line)) {
          data = '';
          socket.write('354 go ahead\r\n');
        } else if (/^QUIT/i.test(line)) {
          socket.end('221 bye\r\n');
        } else {
          socket.write('250 ok\r\n');
        }
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, received, port: server.address().port })));
}

// Opens a console page; none weighs over 200 KiB (there are no other assets).
async function visit(page, path) {
  const response = await page.goto(`${base}${path}`);
  const size = (await response.body()).length;
  assert.ok(size < 200 * 1024, `${path} weighs ${size} bytes`);
  return response;
}

async function signIn(token, locale = 'en-US') {
  const context = await browser.newContext({ locale, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${base}/messages`);
  assert.match(page.url(), /\/login$/, 'a page needs a signed-in session');
  await shoot(page, 'login');
  await page.fill('#token', token);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/overview/);
  return { context, page };
}

try {
  const { context, page } = await signIn(operator);
  const [cookie] = await context.cookies();
  assert.equal(cookie.httpOnly, true, 'the session cookie is HttpOnly');
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal((await page.textContent('#errors b')).trim(), '2', 'two errors in the last hour');
  assert.match(await page.textContent('#readiness b'), /ok/);
  await shoot(page, 'overview');
  await visit(page, '/pending');
  assert.ok((await page.textContent('table.groups')).includes('PRODUCT_NOT_FOUND'), 'grouped by reason');
  await shoot(page, 'pending');

  // Find it by filtering, the filters kept in the URL.
  await visit(page, '/messages');
  await page.fill('input[name=error_code]', 'PRODUCT_NOT_FOUND');
  await page.selectOption('select[name=status]', 'error');
  await page.click('form.filters button[type=submit]');
  await page.waitForURL(/error_code=PRODUCT_NOT_FOUND/);
  assert.match(page.url(), /status=error/);
  await shoot(page, 'messages');
  const row = page.locator('tr', { hasText: document });
  await row.locator('a').first().click();
  await page.waitForURL(/\/messages\/in-\d+$/);
  const detail = page.url();
  assert.equal((await page.textContent('td.code')).trim(), 'PRODUCT_NOT_FOUND');
  assert.match(await page.textContent('td.suggested'), /map the product/);
  await shoot(page, 'message');

  // A forged POST (no CSRF token) is refused, even with the session cookie.
  const forged = await context.request.post(`${detail}/retry`, { form: { csrf: 'forged' } });
  assert.equal(forged.status(), 403);

  // Add the missing mapping in Settings.
  await visit(page, '/settings/mappings');
  await page.fill('#add-mapping input[name=namespace]', 'ECOMMERCE');
  await page.selectOption('#add-mapping select[name=entity]', 'Product');
  await page.fill('#add-mapping input[name=external]', product);
  await page.fill('#add-mapping input[name=internal]', 'P001');
  await page.click('#add-mapping button[type=submit]');
  await page.waitForURL(/done=/);
  assert.ok((await page.textContent('main table')).includes(product));
  await shoot(page, 'mappings');

  // The second rejected order is discarded in bulk, by filter, after a confirmation.
  await visit(page, '/pending?document=console-order-2');
  await page.selectOption('#bulk select[name=action]', 'discard');
  await page.fill('#bulk input[name=note]', 'test order from the store team');
  await page.click('#bulk button[type=submit]');
  await page.waitForSelector('#confirm');
  assert.match(await page.textContent('main'), /discard — 1/);
  await shoot(page, 'bulk-confirm');
  await page.click('#confirm');
  await page.waitForURL(/\/pending\?done=/);
  assert.equal(await page.locator('tr', { hasText: 'console-order-2' }).count(), 0, 'discarded in bulk');

  // New credentials for a destination: written, never shown back.
  await visit(page, '/settings/destinations');
  const vtex = page.locator('tr', { hasText: 'vtex-stock' });
  await vtex.locator('summary').click();
  await vtex.locator('input[name=value]').fill('Bearer s3cret-from-the-console');
  await vtex.locator('form.credentials button').click();
  await page.waitForURL(/done=/);
  assert.ok(!(await page.content()).includes('s3cret-from-the-console'), 'a secret is never shown');
  await shoot(page, 'destinations');
  await visit(page, '/settings/schedules');
  await shoot(page, 'schedules');

  // Cadastrar → E-mail: a target for a branch, with a copy list, then "Validar E-mails".
  const sink = await smtpSink();
  await visit(page, '/settings/alerts');
  const email = page.locator('#add-email');
  const addEmailTarget = async (name, port) => {
    await email.locator('input[name=name]').fill(name);
    await email.locator('input[name=company]').fill('T1');
    await email.locator('input[name=branch]').fill('D MG 01');
    await email.locator('input[name=smtp_host]').fill('127.0.0.1');
    await email.locator('input[name=smtp_port]').fill(String(port));
    await email.locator('select[name=smtp_security]').selectOption('none');
    await email.locator('input[name=sender]').fill('eai@example.com');
    await email.locator('input[name=recipients]').fill('ops@example.com');
    await email.locator('input[name=copies]').fill('boss@example.com, audit@example.com');
    await email.locator('button[type=submit]').click();
    await page.waitForURL(new RegExp(`done=${name}`));
  };
  await addEmailTarget('console-ops', sink.port);
  const saved = page.locator('#alert-targets tr', { hasText: 'console-ops' });
  assert.match(await saved.textContent(), /boss@example\.com, audit@example\.com/, 'the copy list is listed');
  await saved.locator('form[action$="/test"] button').click();
  await page.waitForURL(/done=console-ops.*test\+alert\+sent/);
  assert.equal(sink.received.length, 1, 'the test alert reached the SMTP server');
  assert.deepEqual(sink.received[0].rcpt.sort(), ['<audit@example.com>', '<boss@example.com>', '<ops@example.com>']);
  assert.match(sink.received[0].data, /^Cc: .*boss@example\.com/m, 'the copies are in Cc');
  assert.match(await page.locator('#recent-alerts').textContent(), /test/, 'the test alert is listed');
  await shoot(page, 'alerts');
  // A target on a closed port: the test says it was not sent, and why.
  await addEmailTarget('console-down', 9);
  await page.locator('#alert-targets tr', { hasText: 'console-down' }).locator('form[action$="/test"] button').click();
  await page.waitForURL(/failed=console-down/);
  assert.match(await page.locator('p.flash.bad').textContent(), /console-down: .*NOT sent.*127\.0\.0\.1:9/);
  sink.server.close();

  // Retry it and see it turn ok.
  await page.goto(detail);
  await page.click('form[action$="/retry"] button');
  await page.waitForURL(/done=/);
  let status = '';
  for (let tries = 0; tries < 50 && status !== 'ok'; tries += 1) {
    await page.goto(detail);
    status = (await page.textContent('dd[class^=st-]')).trim();
    if (status !== 'ok') await page.waitForTimeout(200);
  }
  assert.equal(status, 'ok', 'the retried envelope is integrated');
  await shoot(page, 'message-ok');
  await visit(page, '/dead-letters');
  await shoot(page, 'dead-letters');

  // A viewer sees no mutating button.
  const watcher = await signIn(viewer, 'pt-BR');
  await watcher.page.goto(`${base}/messages?document=console-order-2`);
  await watcher.page.locator('tr', { hasText: 'console-order-2' }).locator('a').first().click();
  await watcher.page.waitForURL(/\/messages\/in-\d+$/);
  assert.equal(await watcher.page.locator('form[action$="/retry"]').count(), 0, 'no retry button for a viewer');
  assert.equal(await watcher.page.locator('#add-mapping').count(), 0);
  assert.ok((await watcher.page.textContent('header')).includes('Pendências'), 'Portuguese for a pt-BR browser');
  assert.match(await watcher.page.textContent('td.suggested'), /fazer o de\/para do produto/, 'the suggested action in Portuguese too');
  await shoot(watcher.page, 'viewer-pt');
  const csrf = await watcher.page.getAttribute('input[name=csrf]', 'value');
  const refused = await watcher.context.request.post(`${detail}/retry`, { form: { csrf } });
  assert.equal(refused.status(), 403, 'a viewer cannot retry, even with its CSRF token');

  // Sign out.
  await page.click('header form button');
  await page.waitForURL(/\/login$/);
  console.log('console: all checks passed; screenshots in', shots);
} finally {
  await browser.close();
}
