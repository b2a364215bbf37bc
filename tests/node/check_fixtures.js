#!/usr/bin/env node
// Checks every webhook fixture (tests/fixtures/<format>/NAME.json) the way real
// receivers will see it:
//  1. the file is valid UTF-8 and JSON.stringify(JSON.parse(body)) === body byte
//     for byte (DESIGN §5), so validators that re-serialise still match;
//  2. NAME.sig, when it is a StatusPageOne-style "sha256=<hex>" header value, is
//     accepted by the seed's own validateWebhook (copied literally below) for the
//     test secret, and matches the HMAC over the raw bytes as well.
// In tests/fixtures/statuspageone every fixture must have such a .sig.
// Usage: node check_fixtures.js <fixtures-dir>; exits 1 on any mismatch.
'use strict';

const fs = require('fs');
const path = require('path');

const SECRET = 'tocsin-test-secret';

// ---- from the StatusPageOne webhook docs (seed 002), unchanged ----
const crypto = require('crypto');

function validateWebhook(payload, signature, secret) {
  const expectedSignature = crypto
    .createHmac('sha256', secret)
    .update(payload)
    .digest('hex');

  return signature === `sha256=${expectedSignature}`;
}
// ---- end of seed code ----

const root = process.argv[2];
if (!root) {
  console.error('usage: check_fixtures.js <fixtures-dir>');
  process.exit(2);
}

let failures = 0;
let checked = 0;

function fail(file, why) {
  failures++;
  console.log(`FAIL ${file}: ${why}`);
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
  // What express.json() hands the seed's handler, serialised as it does.
  const payload = JSON.stringify(parsed);
  if (!Buffer.from(payload, 'utf8').equals(raw)) {
    return fail(file, `JSON.stringify(JSON.parse(body)) differs:\n  body: ${text}\n  node: ${payload}`);
  }
  checked++;
  console.log(`ok   ${file}: canonical (${raw.length} bytes)`);

  const sigPath = path.join(dir, name.replace(/\.json$/, '.sig'));
  if (!fs.existsSync(sigPath)) {
    if (format === 'statuspageone') fail(file, 'missing .sig');
    return;
  }
  const signature = fs.readFileSync(sigPath, 'utf8').trim();
  if (!signature.startsWith('sha256=')) {
    if (format === 'statuspageone') return fail(file, `.sig is not "sha256=<hex>": ${signature}`);
    console.log(`skip ${file}: .sig is not a StatusPageOne-style signature`);
    return;
  }
  if (!validateWebhook(payload, signature, SECRET)) {
    return fail(file, 'the seed\'s validateWebhook rejects the stored signature');
  }
  const rawHex = crypto.createHmac('sha256', SECRET).update(raw).digest('hex');
  if (signature !== `sha256=${rawHex}`) {
    return fail(file, 'stored signature does not match HMAC over the raw body');
  }
  console.log(`ok   ${file}: seed validateWebhook accepts ${signature.slice(0, 19)}...`);
}

for (const format of fs.readdirSync(root).sort()) {
  const dir = path.join(root, format);
  if (!fs.statSync(dir).isDirectory()) continue;
  const names = fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
  if (names.length === 0) console.log(`note ${format}: no fixtures`);
  for (const name of names) checkFixture(dir, format, name);
}

if (checked === 0) fail(root, 'no fixtures found');
console.log(`${checked} fixture(s) checked, ${failures} failure(s)`);
process.exit(failures ? 1 : 0);
