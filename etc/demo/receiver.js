#!/usr/bin/env node
// Demo webhook receiver for the README quick start: no npm packages, only Node's
// http and crypto modules.
//
//   TOCSIN_DEMO_SECRET=s3cret node etc/demo/receiver.js [PORT]   (default 9977)
//
// Listens on 127.0.0.1 and verifies X-StatusPageOne-Signature twice: exactly as
// the StatusPageOne docs' Node.js validator does (HMAC over
// JSON.stringify(JSON.parse(body)), what express.json() would hand it) and over
// the raw bytes.  Prints one line per delivery; answers 200 {"received":true},
// or 401 when a signature does not match.
'use strict';

const http = require('http');
const crypto = require('crypto');

const port = Number(process.argv[2] || process.env.PORT || 9977);
const secret = process.env.TOCSIN_DEMO_SECRET;
const MAX_BODY = 2 * 1024 * 1024;

// The validator from the StatusPageOne webhook docs, unchanged.
function validateWebhook(payload, signature, secret) {
  const expectedSignature = crypto
    .createHmac('sha256', secret)
    .update(payload)
    .digest('hex');

  return signature === `sha256=${expectedSignature}`;
}

function reply(res, status, obj) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(obj));
}

// Names come from the sender: keep terminal control sequences out of the log.
function printable(value) {
  return String(value).replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

function describe(alert) {
  const m = alert.monitor || {};
  const r = alert.check_result || {};
  const c = alert.context || {};
  const kind = c.notification_type || alert.event_type || 'alert';
  return `${printable(kind)} for ${printable(m.name)} (level ${c.notification_level}, ` +
    `consecutive_failures ${c.consecutive_failures}, status_code ${r.status_code})`;
}

function handle(req, res, raw) {
  const requestId = printable(req.headers['x-request-id'] || '-');
  let alert;
  try {
    alert = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    console.log(`REJECTED: body is not JSON (${e.message}) request-id ${requestId}`);
    return reply(res, 400, { error: 'Invalid JSON' });
  }
  if (secret) {
    const signature = req.headers['x-statuspageone-signature'];
    const seedOk = validateWebhook(JSON.stringify(alert), signature, secret);
    const rawOk = validateWebhook(raw, signature, secret);
    if (!seedOk || !rawOk) {
      console.log(`REJECTED: bad signature (seed validator ${seedOk ? 'ok' : 'FAILED'}, ` +
        `raw body ${rawOk ? 'ok' : 'FAILED'}) request-id ${requestId}`);
      return reply(res, 401, { error: 'Invalid signature' });
    }
    console.log(`verified ${describe(alert)} request-id ${requestId}`);
  } else {
    console.log(`unsigned ${describe(alert)} request-id ${requestId}`);
  }
  reply(res, 200, { received: true });
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST') return reply(res, 405, { error: 'POST only' });
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY) {
      reply(res, 413, { error: 'Payload too large' });
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (size <= MAX_BODY) handle(req, res, Buffer.concat(chunks));
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`demo receiver on http://127.0.0.1:${port}/ ` +
    (secret ? '(verifying X-StatusPageOne-Signature)' : '(TOCSIN_DEMO_SECRET unset: not verifying)'));
});
