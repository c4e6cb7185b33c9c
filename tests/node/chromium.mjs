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

// The page checked by axe-core against the WCAG 2 A and AA rules: `broken`, one line per
// rule broken (`rule (impact): where`), and `passed`, how many rules held (a check that
// ran).
export async function audit(page) {
  const modules = process.env.MEDGRID_TEST_NODE_MODULES;
  await page.addScriptTag({ path: path.join(modules, 'axe-core', 'axe.min.js') });
  return page.evaluate(async () => {
    const result = await window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] });
    return {
      broken: result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
      passed: result.passes.length,
    };
  });
}

// A screenshot named `name`, and the page's accessibility check kept in
// `seen.accessibility[name]` (the Rust side asserts nothing is broken).
export const looker = (dir) => {
  const shot = shooter(dir);
  return async (page, name, seen) => {
    await shot(page, name);
    (seen.accessibility ??= {})[name] = await audit(page);
  };
};
