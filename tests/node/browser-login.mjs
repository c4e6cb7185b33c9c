// A full browser sign-in in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core): the chooser page, the institution's provider, back to Medgrid signed
// in, the API with the session cookie, sign-out. Screenshots go to the given directory.
//
// usage: node browser-login.mjs <medgrid url> <institution label> <screenshot dir>
// Prints one JSON line: {who, me, afterSignOut, finalUrl}.
import path from 'node:path';

import { launch } from './chromium.mjs';

const [url, label, shots] = process.argv.slice(2);
const browser = await launch();
const me = (page) => page.evaluate(async () => {
  const res = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ me { email name } }' }),
  });
  return res.json();
});
try {
  const page = await browser.newPage();
  await page.goto(`${url}/login`);
  await page.screenshot({ path: path.join(shots, '01-chooser.png') });
  await page.getByRole('link', { name: label }).click();
  await page.waitForSelector('#who', { timeout: 15000 });
  await page.screenshot({ path: path.join(shots, '02-signed-in.png') });
  const who = await page.textContent('#who');
  const signedIn = await me(page);
  const finalUrl = page.url();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${url}/login`);
  await page.screenshot({ path: path.join(shots, '03-signed-out.png') });
  const afterSignOut = await me(page);
  console.log(JSON.stringify({ who, me: signedIn, afterSignOut, finalUrl }));
} finally {
  await browser.close();
}
