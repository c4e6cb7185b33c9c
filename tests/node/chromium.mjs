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
