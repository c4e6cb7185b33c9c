// The portal end to end in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core): a deep link while signed out, local sign-in and back, the catalog
// search, a generated form refusing a value beside its field with the entries kept, a
// job submitted and followed to SUCCEEDED without a reload, its output downloaded,
// markup in values shown as text, the jobs list and its filter, and an expired session
// sending the browser to sign in and back. Screenshots go to the given directory.
//
// usage: node browser-portal.mjs <medgrid url> <tenant> <email> <password> <admin email> <screenshot dir>
// (the administrator has the same password; they look at the accounting charts last)
// Prints one JSON line with what it saw.
import fs from 'node:fs';
import { looker, run, shooter, signIn as signInAs } from './chromium.mjs';

const [url, tenant, email, password, adminEmail, shots] = process.argv.slice(2);
const shot = shooter(shots);
const look = looker(shots);

const signIn = (page, who = email) => signInAs(page, tenant, who, password);

await run(async (browser, seen) => {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1024, height: 768 } });
  const page = await context.newPage();

  // a deep link while signed out: sign in, and land where we were going
  await page.goto(`${url}/apps`);
  seen.signInUrl = page.url();
  await shot(page, '01-sign-in');
  await signIn(page);
  await page.waitForURL(`${url}/apps`);
  seen.afterSignIn = page.url();

  // the catalog, searched
  await page.fill('#q', 'demo');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/q=demo/);
  seen.found = await page.locator('#apps li h2 a').allTextContents();
  await look(page, '02-catalog', seen);
  await page.getByRole('link', { name: 'portal-demo' }).click();
  await page.waitForSelector('#submit-form');

  // a value out of range: refused beside its field, what was typed kept
  const message = '<script>window.__xss = 1</script>hello from the portal';
  await page.getByLabel('Message').fill(message);
  await page.getByLabel('Pause (seconds)').fill('42');
  await page.getByRole('button', { name: 'Run' }).click();
  await page.waitForSelector('.field-error');
  seen.fieldError = {
    id: await page.getAttribute('.field-error', 'id'),
    text: await page.textContent('.field-error'),
    keptMessage: await page.getByLabel('Message').inputValue(),
    keptPause: await page.getByLabel('Pause (seconds)').inputValue(),
  };
  await look(page, '03-field-error', seen);

  // submitted for real, followed without reloading
  await page.getByLabel('Pause (seconds)').fill('3');
  await page.getByRole('button', { name: 'Run' }).click();
  await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
  seen.jobUrl = page.url();
  await page.evaluate(() => {
    window.__samePage = 'yes';
    document.querySelector('[data-live]').dataset.first = 'yes';
  });
  // once the live part was redrawn, its Cancel still asks first (dismissed: the job goes on)
  seen.confirms = [];
  page.on('dialog', (dialog) => { seen.confirms.push(dialog.message()); dialog.dismiss(); });
  const redrawn = () => page.evaluate(() => !document.querySelector('[data-live]').dataset.first);
  let cancelTried = false;
  const states = [];
  const deadline = Date.now() + 90_000;
  for (;;) {
    const state = (await page.textContent('#job-state')).trim();
    if (states[states.length - 1] !== state) {
      states.push(state);
      await shot(page, `04-job-${states.length}-${state.toLowerCase()}`);
    }
    if (['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(state) || Date.now() > deadline) break;
    if (!cancelTried && state === 'RUNNING' && await redrawn()) {
      cancelTried = true;
      await page.getByRole('button', { name: 'Cancel' }).click();
    }
    await page.waitForTimeout(200);
  }
  seen.states = states;
  seen.samePage = await page.evaluate(() => window.__samePage);
  seen.xss = await page.evaluate(() => window.__xss ?? null);
  seen.commandShown = await page.textContent('dl.facts');
  seen.timeline = await page.locator('#timeline li .state').allTextContents();
  await look(page, '04-job-finished', seen);

  // the output, downloaded through the link
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('#outputs a').first().click(),
  ]);
  seen.download = { name: download.suggestedFilename(), text: fs.readFileSync(await download.path(), 'utf8') };

  // the list, filtered
  await page.goto(`${url}/jobs`);
  seen.listed = await page.locator('#jobs tbody tr').count();
  await page.selectOption('#state', 'FAILED');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForURL(/state=FAILED/);
  seen.failedListed = await page.locator('#jobs tbody tr').count();
  await look(page, '05-jobs-filtered', seen);

  // an expired session: to sign-in, and back to the job
  await context.clearCookies({ name: 'medgrid_session' });
  await page.goto(seen.jobUrl);
  seen.expiredTo = page.url();
  await signIn(page);
  await page.waitForURL(seen.jobUrl);
  seen.backTo = page.url();
  await shot(page, '06-back-after-sign-in');

  // the administrator's accounting charts, once the job is accounted
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${url}/login`);
  await page.goto(`${url}/admin/accounting`);
  await signIn(page, adminEmail);
  await page.waitForURL(`${url}/admin/accounting`);
  for (let i = 0; i < 50 && !(await page.textContent('#total')).includes('Jobs: 1 ·'); i++) {
    await page.waitForTimeout(200);
    await page.reload();
  }
  seen.total = (await page.textContent('#total')).trim();
  seen.monthBars = await page.locator('svg#by-month rect').count();
  seen.appLabels = await page.locator('svg#by-application text.chart-label').allTextContents();
  seen.chartBox = await page.locator('svg#by-month').boundingBox();
  await look(page, '07-accounting', seen);
});
