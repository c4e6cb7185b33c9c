// An import followed live in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core): sign in on a deep link to /files, open "Import into this folder",
// send the URL form once refused (a cloud metadata address: the message beside the
// field, the address kept, the focus on it) and once right, land on the imports list and
// watch the row go on to done without a reload, its progress bar shown; then follow the
// row's folder link to the file. Screenshots go to the given directory.
//
// usage: node browser-imports.mjs <medgrid url> <tenant> <email> <password> <file url> <screenshot dir>
// Prints one JSON line with what it saw.
import { looker, run, shooter, signIn } from './chromium.mjs';

const [url, tenant, email, password, fileUrl, shots] = process.argv.slice(2);
const shot = shooter(shots);
const look = looker(shots);
const FINAL = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

await run(async (browser, seen) => {
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  const page = await context.newPage();

  await page.goto(`${url}/files`);
  await signIn(page, tenant, email, password);
  await page.waitForURL(`${url}/files`);
  await page.getByRole('link', { name: 'Import into this folder' }).click();
  await page.waitForURL(`${url}/files/import?path=/home`);

  // refused by the guard: said beside the field, which keeps the address and the focus
  const form = page.locator('#import-url');
  await form.getByLabel('Address of the file').fill('http://169.254.169.254/latest/meta-data/');
  await form.getByRole('button', { name: 'Import the file' }).click();
  await page.locator('#url-url-error').waitFor();
  seen.refused = {
    text: await page.textContent('#url-url-error'),
    kept: await page.inputValue('#url-url'),
    focused: await page.evaluate(() => document.activeElement && document.activeElement.id),
  };
  await look(page, '01-refused', seen);

  await page.locator('#import-url').getByLabel('Address of the file').fill(fileUrl);
  await page.locator('#import-url').getByRole('button', { name: 'Import the file' }).click();
  await page.waitForURL(/\/files\/imports#i-/);
  seen.landed = page.url();
  await page.evaluate(() => { window.__samePage = 'yes'; });
  const row = () => page.locator('#imports tbody tr').first();
  seen.progressShown = await row().locator('progress').isVisible();
  seen.indeterminate = await row().locator('progress').evaluate((p) => !p.hasAttribute('value'));
  await shot(page, '02-under-way');

  // the row redrawn in place until it is final
  const states = [];
  const deadline = Date.now() + 60000;
  for (;;) {
    const state = await row().getAttribute('data-state');
    if (states[states.length - 1] !== state) { states.push(state); }
    if (FINAL.includes(state)) { break; }
    if (Date.now() > deadline) { throw new Error(`never final: ${states}`); }
    await page.waitForTimeout(250);
  }
  seen.states = states;
  seen.samePage = await page.evaluate(() => window.__samePage ?? 'no');
  seen.doneLabel = (await row().locator('.state').textContent()).trim();
  seen.doneText = (await row().locator('.import-count').textContent()).trim();
  seen.doneBar = await row().locator('progress').evaluate((p) => p.value);
  seen.final = await page.locator('#imports-live').evaluate((s) => s.hasAttribute('data-final'));
  await look(page, '03-done', seen);

  // the row's folder holds the file
  await row().getByRole('link', { name: '/home' }).click();
  await page.waitForURL(`${url}/files?path=/home`);
  seen.listed = await page.locator('#files tbody tr td:first-child a').allTextContents();
  await shot(page, '04-in-the-folder');
});
