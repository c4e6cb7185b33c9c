// An administrator's round in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) on a 768px-wide tablet: from the Administration page to Members, a
// member added with the form (markup in the name), a group created, someone unknown
// refused beside the field, the new member added, then disabled (the confirmation
// accepted), and the audit log filtered to groups. Screenshots go to the given directory.
//
// usage: node browser-admin.mjs <medgrid url> <tenant> <email> <password> <screenshot dir>
// Prints one JSON line with what it saw.
import { audit, run, shooter, signIn } from './chromium.mjs';

const [url, tenant, email, password, shots] = process.argv.slice(2);
const shot = shooter(shots);
const text = async (page, selector) => (await page.textContent(selector)).trim();

await run(async (browser, seen) => {
  const context = await browser.newContext({ viewport: { width: 768, height: 1024 } });
  const page = await context.newPage();
  page.on('dialog', (dialog) => dialog.accept());

  await page.goto(`${url}/login`);
  await signIn(page, tenant, email, password);
  await page.waitForURL(`${url}/`);

  // a member, through the form
  await page.getByRole('link', { name: 'Administration' }).click();
  await page.getByRole('link', { name: 'Members', exact: true }).click();
  await page.getByLabel('E-mail').fill('bea@uni.org');
  await page.getByLabel('Name').fill('Bea <Researcher>');
  await page.getByLabel('Password (leave empty to invite)').fill('a long test password');
  await page.getByRole('button', { name: 'Add the member' }).click();
  await page.waitForURL(/\/admin\/members\/[0-9a-f-]{36}$/);
  seen.memberName = await text(page, 'h1');
  seen.memberRoles = await text(page, '#member-roles');
  const memberUrl = page.url();
  await shot(page, '01-member');

  // a group, someone unknown refused, the new member added
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Groups' }).click();
  await page.getByLabel('Name').fill('Neuroimaging');
  await page.getByRole('button', { name: 'Create the group' }).click();
  await page.waitForURL(/\/groups\/[0-9a-f-]{36}$/);
  const groupUrl = page.url();
  await page.getByLabel('Their e-mail address').fill('nobody@uni.org');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await page.waitForSelector('#add-error');
  seen.addError = await text(page, '#add-error');
  await shot(page, '02-group-refused');
  await page.getByLabel('Their e-mail address').fill('bea@uni.org');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await page.waitForSelector('#group-members');
  seen.groupMembers = (await page.locator('#group-members tbody td:nth-child(2)').allTextContents())
    .map((t) => t.trim());
  seen.tabletOverflow = await page.evaluate(
    () => document.documentElement.scrollWidth > document.documentElement.clientWidth,
  );
  await shot(page, '03-group');

  // disabled, after the confirmation
  await page.goto(memberUrl);
  await page.getByRole('button', { name: 'Disable' }).click();
  await page.waitForSelector('#enable-form');
  seen.disabledState = await text(page, '#member-facts .member-state');

  // the audit log, only what happened to groups
  await page.goto(`${url}/admin`);
  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.getByLabel('About').selectOption('Group');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForURL(/what=Group/);
  seen.audit = (await page.locator('#audit tbody td:nth-child(3)').allTextContents()).map((t) => t.trim());
  await shot(page, '04-audit');

  // every page of the round, checked against WCAG 2 A and AA
  seen.accessibility = {};
  const pages = ['/admin', '/admin/members', memberUrl, '/groups', groupUrl, '/admin/audit',
    '/admin/accounting', '/admin/resources', '/admin/providers', '/admin/applications'];
  for (const where of pages) {
    await page.goto(where.startsWith('http') ? where : `${url}${where}`);
    seen.accessibility[where.replace(url, '')] = await audit(page);
  }
});
