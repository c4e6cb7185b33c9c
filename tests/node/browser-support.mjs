// Notification preferences and a trouble ticket in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core), on a 768px-wide tablet: a deep link to
// the preferences while signed out, sign-in and back, two rows of the matrix changed (one
// by a click, one with the arrow keys) and saved, then a ticket opened with markup in its
// title and commented. Screenshots go to the given directory.
//
// usage: node browser-support.mjs <medgrid url> <tenant> <email> <password> <screenshot dir>
// Prints one JSON line with what it saw.
import { looker, run, shooter, signIn } from './chromium.mjs';

const [url, tenant, email, password, shots] = process.argv.slice(2);
const shot = shooter(shots);
const look = looker(shots);
const chosen = (page, kind) => page.locator(`input[name="kind.${kind}"]:checked`).first().getAttribute('value');

await run(async (browser, seen) => {
  const context = await browser.newContext({ viewport: { width: 768, height: 1024 } });
  const page = await context.newPage();

  // a deep link while signed out: sign in, and land on the preferences
  await page.goto(`${url}/settings/notifications`);
  seen.signInUrl = page.url();
  await signIn(page, tenant, email, password);
  await page.waitForURL(`${url}/settings/notifications`);
  seen.tabletOverflow = await page.evaluate(
    () => document.documentElement.scrollWidth > document.documentElement.clientWidth,
  );
  await shot(page, '01-preferences');

  // one row by a click on its labelled radio, one with the keyboard
  await page.getByLabel('A job started: Immediately').check();
  await page.getByLabel('A job failed: Immediately').focus();
  await page.keyboard.press('ArrowRight');
  seen.jobFailedFocused = await page.evaluate(() => document.activeElement.id);
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.waitForURL(/saved=mine/);
  seen.saved = (await page.textContent('#my-saved')).trim();
  seen.jobStartedAfter = await chosen(page, 'JOB_STARTED');
  seen.jobFailedAfter = await chosen(page, 'JOB_FAILED');
  await look(page, '02-preferences-saved', seen);

  // a ticket, from the help page
  await page.getByRole('link', { name: 'Help' }).click();
  await page.getByRole('link', { name: 'Report a problem' }).click();
  await page.waitForSelector('#ticket-form');
  await page.getByLabel('Title').fill('<img src=x onerror=window.__xss=1> uploads fail');
  await page.getByLabel('What happened').fill('Uploads stop at 99%.');
  await page.getByLabel('Priority').selectOption('HIGH');
  await page.getByRole('button', { name: 'Open the ticket' }).click();
  await page.waitForURL(/\/tickets\/[0-9a-f-]{36}$/);
  seen.ticketUrl = page.url();
  seen.titleShown = (await page.textContent('#ticket-title')).trim();
  await page.getByLabel('Your comment').fill('It happens with every file.');
  await page.getByRole('button', { name: 'Comment' }).click();
  await page.waitForURL(/#comments$/);
  seen.comments = (await page.locator('ol.comments li .text').allTextContents()).map((t) => t.trim());
  seen.xss = await page.evaluate(() => window.__xss ?? null);
  await look(page, '03-ticket-commented', seen);
});
