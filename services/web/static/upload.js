// Medgrid portal: uploads on a folder page, one progress bar per file, from the file
// field or dropped anywhere on the page. Each file goes to POST /files/upload as the
// request body (XMLHttpRequest, for upload progress), with the form's CSRF token in
// X-CSRF-Token (the session cookie alone uploads nothing). Without this file the form
// still posts to /files/upload-form.
'use strict';

(() => {
  const form = document.getElementById('upload-form');
  if (!form) { return; }
  const input = document.getElementById('upload-files');
  const list = document.getElementById('upload-progress');
  const parent = form.querySelector('input[name="parent"]').value;
  const csrf = form.querySelector('input[name="csrf"]').value;
  const hint = document.getElementById('drop-zone');
  if (hint) { hint.hidden = false; }

  function row(file) {
    const li = document.createElement('li');
    li.className = 'upload';
    const name = document.createElement('span');
    name.className = 'upload-name';
    name.textContent = file.name;
    const bar = document.createElement('progress');
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute('aria-label', `Upload of ${file.name}`);
    const status = document.createElement('span');
    status.className = 'upload-status';
    status.textContent = '0%';
    li.append(name, ' ', bar, ' ', status);
    list.append(li);
    return { li, bar, status };
  }

  function send(file) {
    const { li, bar, status } = row(file);
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      const query = `parent=${encodeURIComponent(parent)}&name=${encodeURIComponent(file.name)}`;
      xhr.open('POST', `/files/upload?${query}`);
      xhr.setRequestHeader('content-type', file.type || 'application/octet-stream');
      xhr.setRequestHeader('x-csrf-token', csrf);
      xhr.upload.onprogress = (ev) => {
        if (ev.lengthComputable && ev.total > 0) {
          // 100% once the server has recorded it, not when the last byte leaves
          const pct = Math.min(99, Math.floor((ev.loaded / ev.total) * 100));
          bar.value = pct;
          status.textContent = `${pct}%`;
        }
      };
      xhr.onload = () => {
        if (xhr.status === 201) {
          bar.value = 100;
          status.textContent = '100% · uploaded';
          li.classList.add('done');
        } else {
          let message = `refused (${xhr.status})`;
          try { message = JSON.parse(xhr.responseText).error.message; } catch (e) { /* not JSON */ }
          status.textContent = `Not uploaded: ${message}`;
          li.classList.add('failed');
        }
        resolve();
      };
      xhr.onerror = () => {
        status.textContent = 'Not uploaded: the connection failed';
        li.classList.add('failed');
        resolve();
      };
      xhr.send(file);
    });
  }

  // the listing and the quota bar as the server now draws them
  async function refresh() {
    try {
      const res = await fetch(window.location.href, { credentials: 'same-origin' });
      if (!res.ok) { return; }
      const next = new DOMParser().parseFromString(await res.text(), 'text/html');
      for (const id of ['listing', 'quota']) {
        const now = document.getElementById(id);
        const fresh = next.getElementById(id);
        if (now && fresh) { now.replaceWith(document.adoptNode(fresh)); }
      }
    } catch (e) { /* the next visit shows them */ }
  }

  let queue = Promise.resolve();
  function upload(files) {
    const chosen = Array.from(files || []);
    if (chosen.length === 0) { return; }
    queue = queue
      .then(() => chosen.reduce((done, file) => done.then(() => send(file)), Promise.resolve()))
      .then(refresh);
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    upload(input.files);
    input.value = '';
  });

  const hasFiles = (ev) => ev.dataTransfer && Array.from(ev.dataTransfer.types || []).includes('Files');
  document.addEventListener('dragover', (ev) => {
    if (!hasFiles(ev)) { return; }
    ev.preventDefault();
    ev.dataTransfer.dropEffect = 'copy';
    document.body.classList.add('dropping');
  });
  document.addEventListener('dragleave', (ev) => {
    if (ev.relatedTarget === null) { document.body.classList.remove('dropping'); }
  });
  document.addEventListener('drop', (ev) => {
    if (!hasFiles(ev)) { return; }
    ev.preventDefault();
    document.body.classList.remove('dropping');
    upload(ev.dataTransfer.files);
  });
})();
