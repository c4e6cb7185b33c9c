// The Files pages end to end in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core): sign in on a deep link to /files, upload two files through the file
// field and a third by a synthetic drop on the page, each with a progress bar that
// reaches 100%, see them listed without a reload, make a folder, share it with a group
// through its actions, and look at the page at a tablet's width. Screenshots go to the
// given directory.
//
// usage: node browser-files.mjs <medgrid url> <tenant> <email> <password> <screenshot dir>
// Prints one JSON line with what it saw.
import { looker, run, shooter, signIn } from './chromium.mjs';

const [url, tenant, email, password, shots] = process.argv.slice(2);
const shot = shooter(shots);
const look = looker(shots);

const bars = (page) => page.$$eval('#upload-progress li', (items) => items.map((li) => ({
  name: li.querySelector('.upload-name').textContent,
  value: li.querySelector('progress').value,
  text: li.querySelector('.upload-status').textContent,
})));
const listed = (page) => page.locator('#files tbody tr td:first-child a').allTextContents();

await run(async (browser, seen) => {
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  const page = await context.newPage();

  await page.goto(`${url}/files`);
  await signIn(page, tenant, email, password);
  await page.waitForURL(`${url}/files`);
  await shot(page, '01-empty-home');

  // two files through the field, each with its bar
  const file = (name, fill) => ({ name, mimeType: 'text/plain', buffer: Buffer.alloc(300 * 1024, fill) });
  await page.getByLabel('Files to upload').setInputFiles([file('scan-1.txt', 'a'), file('scan-2.txt', 'b')]);
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  await page.waitForFunction(() => document.querySelectorAll('#upload-progress li.done, #upload-progress li.failed').length === 2);
  await page.locator('#files').getByRole('link', { name: 'scan-2.txt' }).waitFor();
  await look(page, '02-uploaded', seen);

  // a third dropped on the page
  await page.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['dropped on the page\n'], 'dropped.txt', { type: 'text/plain' }));
    const target = document.querySelector('main');
    for (const type of ['dragenter', 'dragover', 'drop']) {
      target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
    }
  });
  await page.waitForFunction(() => document.querySelectorAll('#upload-progress li.done, #upload-progress li.failed').length === 3);
  await page.locator('#files').getByRole('link', { name: 'dropped.txt' }).waitFor();
  seen.progress = await bars(page);
  seen.quota = await page.textContent('#quota-text');
  await shot(page, '03-dropped');

  // a folder, shared with a group from its actions
  await page.getByLabel('New folder', { exact: true }).fill('results');
  await page.getByRole('button', { name: 'Create folder' }).click();
  await page.waitForURL(`${url}/files?path=/home`);
  const row = page.locator('#files tbody tr', { has: page.getByRole('link', { name: 'results', exact: true }) });
  await row.locator('summary').click();
  await row.getByLabel('Share with group').selectOption({ label: 'MRI' });
  await shot(page, '04-actions');
  await row.getByRole('button', { name: 'Share', exact: true }).click();
  await page.waitForURL(`${url}/files?path=/home`);
  await page.locator('.shared').first().waitFor();
  seen.listed = await listed(page);
  seen.shared = (await page.locator('#files tbody tr', {
    has: page.getByRole('link', { name: 'results', exact: true }),
  }).locator('.shared').textContent()).trim();
  await look(page, '05-shared', seen);

  // a tablet's width: nothing runs off the side
  await page.setViewportSize({ width: 768, height: 1024 });
  seen.tabletOverflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  await shot(page, '06-tablet');
});
