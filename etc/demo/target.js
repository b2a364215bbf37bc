#!/usr/bin/env node
// Demo flappy HTTP target for the README quick start: no npm packages.
//
//   node etc/demo/target.js [UP_SECONDS] [DOWN_SECONDS] [PORT]   (defaults 4 8 9978)
//
// Listens on 127.0.0.1 and answers 200 "ok" for UP_SECONDS after start, then 503
// for DOWN_SECONDS, then 200 again for good, so one incident and its recovery
// can be watched end to end.  Prints each phase change.
'use strict';

const http = require('http');

const upSeconds = Number(process.argv[2] || 4);
const downSeconds = Number(process.argv[3] || 8);
const port = Number(process.argv[4] || process.env.PORT || 9978);

if (!(upSeconds >= 0) || !(downSeconds >= 0) || !(port > 0 && port < 65536)) {
  console.error('usage: target.js [UP_SECONDS] [DOWN_SECONDS] [PORT]');
  process.exit(2);
}

const started = Date.now();
let phase = null;

function currentPhase() {
  const t = (Date.now() - started) / 1000;
  if (t < upSeconds) return 'up';
  if (t < upSeconds + downSeconds) return 'down';
  return 'recovered';
}

function announce() {
  const p = currentPhase();
  if (p === phase) return;
  phase = p;
  const stamp = new Date().toISOString();
  if (p === 'up') console.log(`${stamp} phase: UP, answering 200 for ${upSeconds}s`);
  else if (p === 'down') console.log(`${stamp} phase: DOWN, answering 503 for ${downSeconds}s`);
  else console.log(`${stamp} phase: UP again, answering 200 from now on`);
}

const server = http.createServer((req, res) => {
  announce();
  const down = phase === 'down';
  res.writeHead(down ? 503 : 200, { 'Content-Type': 'text/plain', Connection: 'close' });
  res.end(down ? 'unavailable\n' : 'ok\n');
  req.resume();
});

// Phase changes are printed on time even when nobody is probing.
const timer = setInterval(announce, 200);
server.on('close', () => clearInterval(timer));

server.listen(port, '127.0.0.1', () => {
  console.log(`demo target on http://127.0.0.1:${port}/`);
  announce();
});
