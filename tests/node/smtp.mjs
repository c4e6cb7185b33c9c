// A real SMTP server for the mail tests (npm smtp-server) on 127.0.0.1.
//
// Options: one JSON argument, e.g.
//   {"port": 0, "tls": "none" | "starttls" | "implicit", "key": "key.pem", "cert": "cert.pem",
//    "auth": {"user": "u", "pass": "p"} | null, "refuse": ["nobody@", ...], "dir": "/tmp/…"}
// - port 0 takes any free port; a fixed port is retried a few seconds while it is busy
//   (a restart on the port of a server just killed).
// - auth: AUTH required with exactly these credentials; without it, AUTH is not offered.
// - refuse: a recipient containing one of these strings (case-insensitive) gets
//   `550 5.1.1 no such user`.
// - dir: each accepted message becomes `<n>-<random>.json` ({from, to}) and then
//   `<n>-<random>.eml` (the raw data), n counting on from the files already there; the
//   reply 250 goes out only once both are in place.
//
// Prints one JSON line on stdout once listening: {"port": ...}.
// Node modules come from MEDGRID_TEST_NODE_MODULES (installed by scripts/node-deps).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const modules = process.env.MEDGRID_TEST_NODE_MODULES;
if (!modules) {
  console.error('MEDGRID_TEST_NODE_MODULES is not set: run scripts/node-deps');
  process.exit(2);
}
// Resolves packages as a file beside node_modules would.
const require = createRequire(path.join(path.dirname(modules), 'package.json'));
const { SMTPServer } = require('smtp-server');

const options = JSON.parse(process.argv[2] ?? '{}');
const tls = options.tls ?? 'none';
const refuse = (options.refuse ?? []).map((s) => s.toLowerCase());
const dir = options.dir;
if (!dir) {
  console.error('smtp.mjs: option "dir" is required');
  process.exit(2);
}
fs.mkdirSync(dir, { recursive: true });
let count = fs.readdirSync(dir).filter((f) => f.endsWith('.eml')).length;

const disabled = [];
if (!options.auth) disabled.push('AUTH');
if (tls !== 'starttls') disabled.push('STARTTLS');

const settings = {
  logger: false,
  banner: 'medgrid test SMTP server',
  disabledCommands: disabled,
  authOptional: !options.auth,
  // AUTH in plain text only when the test asks for auth without TLS
  allowInsecureAuth: tls === 'none',
  secure: tls === 'implicit',
  onAuth(auth, _session, callback) {
    const { user, pass } = options.auth ?? {};
    if (auth.username === user && auth.password === pass) {
      callback(null, { user: auth.username });
    } else {
      callback(null, { responseCode: 535, message: '5.7.8 authentication credentials invalid' });
    }
  },
  onRcptTo(address, _session, callback) {
    const to = address.address.toLowerCase();
    if (refuse.some((r) => to.includes(r))) {
      const err = new Error('5.1.1 no such user');
      err.responseCode = 550;
      callback(err);
      return;
    }
    callback();
  },
  onData(stream, session, callback) {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('error', callback);
    stream.on('end', () => {
      try {
        count += 1;
        const name = `${String(count).padStart(6, '0')}-${crypto.randomBytes(4).toString('hex')}`;
        const envelope = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
        };
        const put = (file, data) => {
          fs.writeFileSync(path.join(dir, `.${file}.tmp`), data);
          fs.renameSync(path.join(dir, `.${file}.tmp`), path.join(dir, file));
        };
        put(`${name}.json`, JSON.stringify(envelope));
        put(`${name}.eml`, Buffer.concat(chunks));
        callback(null, `2.0.0 queued as ${name}`);
      } catch (e) {
        const err = new Error(`4.3.0 cannot store the message: ${e.message}`);
        err.responseCode = 451;
        callback(err);
      }
    });
  },
};
if (tls !== 'none') {
  settings.key = fs.readFileSync(options.key);
  settings.cert = fs.readFileSync(options.cert);
}

const server = new SMTPServer(settings);
let tries = 0;
server.on('error', (e) => {
  if (e.code === 'EADDRINUSE' && options.port && tries < 50) {
    tries += 1;
    setTimeout(listen, 100);
    return;
  }
  // errors of one connection (a client hanging up mid-handshake) do not stop the server
  if (e.syscall === 'listen') {
    console.error(`smtp.mjs: cannot listen: ${e.message}`);
    process.exit(1);
  }
});
function listen() {
  server.listen(options.port ?? 0, '127.0.0.1', () => {
    console.log(JSON.stringify({ port: server.server.address().port }));
  });
}
listen();

// Stop with the test: stdin closes when the test process drops the child.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
