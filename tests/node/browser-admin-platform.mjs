// Registering an application in headless Chromium (Debian's /usr/bin/chromium, driven
// by playwright-core): an administrator signs in on a deep link to
// /admin/applications, pastes JSON that is not JSON and sees the refusal beside the
// field with the text kept, then uploads a Boutiques descriptor through the real file
// input; the new application is listed enabled, a dismissed confirmation to disable it
// sends nothing, and it is found in the catalog. Then the compute resources' register
// form refuses a default memory of 0 MiB beside its field, the entries kept. Screenshots
// go to the given directory.
//
// usage: node browser-admin-platform.mjs <medgrid url> <tenant> <email> <password> <descriptor JSON> <screenshot dir>
// Prints one JSON line with what it saw.
import { looker, run, shooter, signIn } from './chromium.mjs';

const [url, tenant, email, password, descriptor, shots] = process.argv.slice(2);
const name = JSON.parse(descriptor).name;
const shot = shooter(shots);
const look = looker(shots);
const state = (page) => page.locator('#applications tbody tr', { hasText: name }).locator('.state').textContent();

await run(async (browser, seen) => {
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  const page = await context.newPage();
  await page.goto(`${url}/admin/applications`);
  await signIn(page, tenant, email, password);
  await page.waitForURL(`${url}/admin/applications`);

  // pasted text that is not JSON: refused beside the field, kept
  await page.getByLabel("…or the descriptor's JSON").fill('{ not json');
  await page.getByRole('button', { name: 'Register', exact: true }).click();
  await page.locator('#descriptor-error').waitFor();
  seen.badJson = await page.textContent('#descriptor-error');
  seen.keptPaste = await page.inputValue('#descriptor');
  await look(page, '01-not-json', seen);

  // the descriptor as a file, through the file input
  await page.getByLabel("…or the descriptor's JSON").fill('');
  await page.getByLabel('Descriptor file').setInputFiles({
    name: `${name}.json`, mimeType: 'application/json', buffer: Buffer.from(descriptor),
  });
  await page.getByRole('button', { name: 'Register', exact: true }).click();
  await page.waitForURL(/\/admin\/applications#app-/);
  seen.afterRegister = page.url().split('#')[0];
  seen.listed = (await state(page)).trim();
  await look(page, '02-registered', seen);

  // disabling asks first; dismissed, nothing is sent (a click waits for a navigation it starts)
  page.once('dialog', (dialog) => dialog.dismiss());
  await page.getByRole('button', { name: `Disable ${name}` }).click();
  seen.declined = (await state(page)).trim();

  await page.goto(`${url}/apps?q=${encodeURIComponent(name)}`);
  seen.inCatalog = await page.locator('#apps h2 a').allTextContents();
  await shot(page, '03-catalog');

  // a resource whose default memory is no memory: refused beside the field, kept
  await page.goto(`${url}/admin/resources`);
  await page.getByLabel('Name', { exact: true }).fill('small');
  await page.getByLabel('Default memory per attempt (MiB)').fill('0');
  await page.getByLabel('Attempts at once').fill('1');
  await page.getByRole('button', { name: 'Register', exact: true }).click();
  await page.locator('#resource-defaultMemoryMb-error').waitFor();
  seen.badMemory = await page.textContent('#resource-defaultMemoryMb-error');
  seen.keptMemory = await page.inputValue('#resource-defaultMemoryMb');
  await look(page, '04-bad-memory', seen);
});
