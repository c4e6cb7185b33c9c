// Headless Chromium for the browser tests: Debian's /usr/bin/chromium (or
// MEDGRID_TEST_CHROMIUM) driven by playwright-core from MEDGRID_TEST_NODE_MODULES.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export async function launch() {
  const modules = process.env.MEDGRID_TEST_NODE_MODULES;
  const { chromium } = await import(
    pathToFileURL(path.join(modules, 'playwright-core', 'index.mjs')).href
  );
  return chromium.launch({
    executablePath: process.env.MEDGRID_TEST_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

// Fills the sign-in form the page shows (local account) and sends it.
export async function signIn(page, tenant, email, password) {
  await page.fill('#tenant', tenant);
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

// Full-page screenshots named `<name>.png` in `dir`.
export const shooter = (dir) => (page, name) =>
  page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });

// Runs `round(browser, seen)` in a fresh Chromium and prints one JSON line: what the
// round put in `seen`, with the error if it failed (then the exit code is 1).
export async function run(round) {
  const browser = await launch();
  const seen = {};
  try {
    await round(browser, seen);
    console.log(JSON.stringify(seen));
  } catch (e) {
    console.log(JSON.stringify({ ...seen, error: String(e && e.stack || e) }));
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}
