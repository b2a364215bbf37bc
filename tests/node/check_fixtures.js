#!/usr/bin/env node
// Checks every webhook fixture (tests/fixtures/<format>/NAME.json) the way real
// receivers will see it:
//  1. the file is valid UTF-8 and JSON.stringify(JSON.parse(body)) === body byte
//     for byte (DESIGN §5), so validators that re-serialise still match;
//  2. NAME.sig (statuspageone, required there) is accepted by the seed's own
//     validateWebhook and matches the HMAC over the raw bytes as well;
//  3. NAME.headers ("Name: value" lines, written by tests/test_formats.c; required
//     for every other format) carries signatures each vendor's own validator
//     (copied literally below) accepts: X-StatusPageOne-Signature, ATStatus'
//     X-Webhook-Signature, X-StatusStack-Signature, the newest secret under the
//     plain name and older ones under NAME-2, NAME-3...; and Standard Webhooks
//     headers, checked by an implementation of the spec written here and, when
//     the `standardwebhooks` npm package can be required, by it too;
//  4. per-format rules a receiver relies on (event headers, PagerDuty's 1024
//     character summary, Alertmanager's array).
// Usage: node check_fixtures.js <fixtures-dir>; exits 1 on any mismatch.
'use strict';

const fs = require('fs');
const path = require('path');

// Shared with tests/test_formats.c: keep both in step.
const SECRET = 'tocsin-test-secret';
const HEX_SECRETS = [SECRET, 'tocsin-old-secret']; // NAME, NAME-2
const STANDARD_SECRETS = ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', SECRET];
const REQUEST_ID = '00000000-0000-4000-8000-000000000000';

const crypto = require('crypto');

// ---- from the StatusPageOne webhook docs (seed 002), unchanged ----
function validateWebhook(payload, signature, secret) {
  const expectedSignature = crypto
    .createHmac('sha256', secret)
    .update(payload)
    .digest('hex');

  return signature === `sha256=${expectedSignature}`;
}
// ---- end of seed code ----

// ---- from the ATStatus docs (seed 003), unchanged but for the name ----
function atstatusVerifyWebhook(payload, signature, secret) {
  const expectedSignature = crypto
    .createHmac('sha256', secret)
    .update(JSON.stringify(payload))
    .digest('hex');
  
  return crypto.timingSafeEqual(
    Buffer.from(signature),
    Buffer.from(expectedSignature)
  );
}
// ---- end of seed code ----

// ---- from the StatusStack docs (seed 004), unchanged but for the name ----
function statusstackVerifyWebhook(payload, signature, secret) {
  const hmac = crypto.createHmac('sha256', secret);
  const digest = hmac.update(payload).digest('hex');
  return crypto.timingSafeEqual(
    Buffer.from(signature),
    Buffer.from(digest)
  );
}
// ---- end of seed code ----

// timingSafeEqual throws on a length mismatch: a wrong signature, not a crash.
function safely(fn) {
  try {
    return fn();
  } catch (e) {
    return false;
  }
}

// Each hex-signed header family: how the vendor's receiver checks it.
const HEX_FAMILIES = {
  'X-StatusPageOne-Signature': (text, parsed, sig, secret) =>
    validateWebhook(JSON.stringify(parsed), sig, secret),
  'X-Webhook-Signature': (text, parsed, sig, secret) =>
    safely(() => atstatusVerifyWebhook(parsed, sig, secret)),
  'X-StatusStack-Signature': (text, parsed, sig, secret) =>
    safely(() => statusstackVerifyWebhook(text, sig, secret)),
};

// The signature header each format must carry on every fixture (signed goldens).
const REQUIRED_SIGNATURE = {
  atstatus: 'X-Webhook-Signature',
  statusstack: 'X-StatusStack-Signature',
};

// Standard Webhooks, from the spec: key = base64 after "whsec_" (raw bytes
// otherwise), HMAC-SHA256 over "id.timestamp.body", "v1,<base64>" space-separated.
function standardSign(secret, id, timestamp, body) {
  const key = secret.startsWith('whsec_')
    ? Buffer.from(secret.slice(6), 'base64')
    : Buffer.from(secret, 'utf8');
  const mac = crypto.createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return `v1,${mac}`;
}

let library = null;
try {
  library = require('standardwebhooks');
} catch (e) {
  library = null;
}

// The library refuses timestamps more than 5 minutes from now: pin "now".
function libraryVerifies(secret, body, headers) {
  const realNow = Date.now;
  const options = secret.startsWith('whsec_') ? undefined : { format: 'raw' };
  Date.now = () => Number(headers['webhook-timestamp']) * 1000;
  try {
    new library.Webhook(secret, options).verify(body, headers);
    return true;
  } catch (e) {
    return false;
  } finally {
    Date.now = realNow;
  }
}

let failures = 0;
let checked = 0;

function fail(file, why) {
  failures++;
  console.log(`FAIL ${file}: ${why}`);
}

function checkSpecVector() {
  const got = standardSign(STANDARD_SECRETS[0], 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330,
    '{"test": 2432232314}');
  if (got !== 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=') {
    fail('standard webhooks', `spec test vector gives ${got}`);
  }
}

function readHeaders(file) {
  const headers = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    const colon = line.indexOf(': ');
    headers[line.slice(0, colon)] = line.slice(colon + 2);
  }
  return headers;
}

function checkSig(file, dir, name, format, payload, raw) {
  const sigPath = path.join(dir, name.replace(/\.json$/, '.sig'));
  if (!fs.existsSync(sigPath)) {
    if (format === 'statuspageone') fail(file, 'missing .sig');
    return;
  }
  const signature = fs.readFileSync(sigPath, 'utf8').trim();
  if (!validateWebhook(payload, signature, SECRET)) {
    return fail(file, 'the seed\'s validateWebhook rejects the stored .sig');
  }
  const rawHex = crypto.createHmac('sha256', SECRET).update(raw).digest('hex');
  if (signature !== `sha256=${rawHex}`) {
    return fail(file, 'stored .sig does not match HMAC over the raw body');
  }
  console.log(`ok   ${file}: seed validateWebhook accepts ${signature.slice(0, 19)}...`);
}

// NAME -> secret 0, NAME-2 -> secret 1...
function checkHexHeader(file, name, value, text, parsed) {
  const m = /^(.*?)(?:-(\d+))?$/.exec(name);
  const verify = HEX_FAMILIES[m[1]];
  if (!verify) return false;
  const index = m[2] ? Number(m[2]) - 1 : 0;
  const secret = HEX_SECRETS[index];
  if (index < 1 && m[2]) fail(file, `${name}: numbered from 2`);
  else if (!secret || !verify(text, parsed, value, secret)) {
    fail(file, `${name}: the vendor's validator rejects it`);
  } else {
    console.log(`ok   ${file}: ${name} verifies with secret ${index + 1}`);
  }
  return true;
}

function checkStandard(file, headers, text) {
  const sigs = (headers['webhook-signature'] || '').split(' ');
  if (headers['webhook-id'] !== REQUEST_ID || !/^\d+$/.test(headers['webhook-timestamp'] || '')) {
    return fail(file, 'webhook-id / webhook-timestamp missing or wrong');
  }
  sigs.forEach((sig, i) => {
    const want = standardSign(STANDARD_SECRETS[i], headers['webhook-id'],
      headers['webhook-timestamp'], text);
    if (sig !== want) fail(file, `webhook-signature #${i + 1} is ${sig}, spec gives ${want}`);
    else if (library && !libraryVerifies(STANDARD_SECRETS[i], text, headers)) {
      fail(file, `standardwebhooks library rejects secret #${i + 1}`);
    }
  });
  console.log(`ok   ${file}: ${sigs.length} Standard Webhooks signature(s) verify` +
    (library ? ' (spec and standardwebhooks library)' : ' (spec; library not installed)'));
}

function checkRules(file, format, headers, parsed) {
  if (format === 'betterstack' && headers['X-BetterUptime-Event'] !== parsed.event_type) {
    fail(file, 'X-BetterUptime-Event differs from event_type');
  }
  if (format === 'atstatus' && headers['X-Webhook-Event'] !== parsed.event) {
    fail(file, 'X-Webhook-Event differs from event');
  }
  if (format === 'pagerduty' && parsed.payload && parsed.payload.summary.length > 1024) {
    fail(file, `summary is ${parsed.payload.summary.length} > 1024 characters`);
  }
  if (format === 'alertmanager' && !(Array.isArray(parsed) && parsed.length === 1)) {
    fail(file, 'not an array of one alert');
  }
  const required = REQUIRED_SIGNATURE[format];
  if (required && !headers[required]) fail(file, `no ${required}`);
}

function checkHeaders(file, dir, name, format, text, parsed) {
  const headersPath = path.join(dir, name.replace(/\.json$/, '.headers'));
  if (!fs.existsSync(headersPath)) {
    if (format !== 'statuspageone') fail(file, 'missing .headers');
    return;
  }
  const headers = readHeaders(headersPath);
  for (const [h, value] of Object.entries(headers)) checkHexHeader(file, h, value, text, parsed);
  if ('webhook-signature' in headers || 'webhook-id' in headers) checkStandard(file, headers, text);
  checkRules(file, format, headers, parsed);
}

function checkFixture(dir, format, name) {
  const file = path.join(format, name);
  const raw = fs.readFileSync(path.join(dir, name));
  let text;
  try {
    // fatal: a lenient decode would hide invalid UTF-8 behind U+FFFD.
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch (e) {
    return fail(file, 'not valid UTF-8');
  }
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return fail(file, `not JSON: ${e.message}`);
  }
  // What express.json() hands the seeds' handlers, serialised as they do.
  const payload = JSON.stringify(parsed);
  if (!Buffer.from(payload, 'utf8').equals(raw)) {
    return fail(file, `JSON.stringify(JSON.parse(body)) differs:\n  body: ${text}\n  node: ${payload}`);
  }
  checked++;
  console.log(`ok   ${file}: canonical (${raw.length} bytes)`);
  checkSig(file, dir, name, format, payload, raw);
  checkHeaders(file, dir, name, format, text, parsed);
}

const root = process.argv[2];
if (!root) {
  console.error('usage: check_fixtures.js <fixtures-dir>');
  process.exit(2);
}

checkSpecVector();
for (const format of fs.readdirSync(root).sort()) {
  const dir = path.join(root, format);
  if (!fs.statSync(dir).isDirectory()) continue;
  const names = fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
  if (names.length === 0) fail(format, 'no fixtures');
  for (const name of names) checkFixture(dir, format, name);
}

if (checked === 0) fail(root, 'no fixtures found');
console.log(`${checked} fixture(s) checked, ${failures} failure(s)`);
process.exit(failures ? 1 : 0);
