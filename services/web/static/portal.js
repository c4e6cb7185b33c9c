// Medgrid portal: small progressive enhancements. Every page works without this file.
'use strict';

// Live regions: an element with data-live="<url>" is replaced by the HTML at that url
// every few seconds until the fragment says it is final (data-final on its root).
function followLive(el) {
  const url = el.dataset.live;
  const every = Number(el.dataset.every || 2000);
  const tick = async () => {
    try {
      const res = await fetch(url, { headers: { 'accept': 'text/html' }, credentials: 'same-origin' });
      if (res.redirected || res.status === 401) { window.location.reload(); return; }
      if (res.ok) {
        const html = await res.text();
        const next = document.createRange().createContextualFragment(html).firstElementChild;
        if (next) {
          el.replaceWith(next);
          el = next;
          if (next.hasAttribute('data-final')) { return; }
        }
      }
    } catch (e) { /* offline a moment: try again */ }
    setTimeout(tick, every);
  };
  if (!el.hasAttribute('data-final')) { setTimeout(tick, every); }
}

// A confirmation for destructive buttons: asked on the document, so forms a live region
// redrew (a job's or an import's Cancel) ask too.
document.addEventListener('submit', (ev) => {
  const form = ev.target.closest('form[data-confirm]');
  if (form && !window.confirm(form.dataset.confirm)) { ev.preventDefault(); }
});

document.addEventListener('DOMContentLoaded', () => {
  document.querySelectorAll('[data-live]').forEach(followLive);
});
