// ws-client.mjs URL: the npm ws client against a molt echo endpoint over
// HTTP/1.1 (URL is ws://127.0.0.1:PORT/PATH), with permessage-deflate
// offered. It sends every message of common.mjs and reads its echo, pings,
// closes with 1000, and prints a JSON report (see common.mjs).
//
// For each exchange, wireRead and wireWritten are the bytes that crossed
// the TCP connection while it ran: far below the message size when the
// server compresses its echo and the client its message.

import { createRequire } from 'node:module';
import { WebSocket } from 'ws';
import { Inbox, finish, guard, messages, newReport, typeName } from './common.mjs';

const url = process.argv[2];
const report = newReport('ws');
report.wsVersion = createRequire(import.meta.url)('ws/package.json').version;
const stop = guard(report, 60_000);

try {
  const ws = new WebSocket(url, { perMessageDeflate: true });
  const inbox = new Inbox();
  ws.once('upgrade', (res) => {
    report.status = res.statusCode;
    report.extensions = res.headers['sec-websocket-extensions'] || '';
  });
  ws.on('message', (data, isBinary) => inbox.put({ kind: 'message', data, isBinary }));
  ws.on('pong', (data) => inbox.put({ kind: 'pong', data }));
  ws.on('close', (code, reason) => inbox.put({ kind: 'close', code, reason }));
  ws.on('error', (err) => inbox.put({ kind: 'error', err }));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => reject(new Error(`handshake answered ${res.statusCode}`)));
  });
  const socket = ws._socket; // a net.Socket: bytesRead and bytesWritten

  const expect = async (kind, what) => {
    const ev = await inbox.take();
    if (ev.kind !== kind) {
      const detail = ev.kind === 'close' ? ` (code ${ev.code} ${ev.reason})` : ev.kind === 'error' ? ` (${ev.err.message})` : '';
      throw new Error(`${what}: got ${ev.kind}${detail}, want ${kind}`);
    }
    return ev;
  };

  for (const m of messages()) {
    const read0 = socket.bytesRead;
    const written0 = socket.bytesWritten;
    if (m.fragments) {
      m.fragments.forEach((f, i) => {
        ws.send(m.binary ? f : f.toString(), { binary: m.binary, fin: i === m.fragments.length - 1 });
      });
    } else {
      ws.send(m.binary ? m.data : m.data.toString(), { binary: m.binary });
    }
    const ev = await expect('message', m.name);
    report.exchanges.push({
      name: m.name,
      sentType: typeName(m.binary),
      sentLen: m.data.length,
      gotType: typeName(ev.isBinary),
      gotLen: ev.data.length,
      equal: Buffer.compare(ev.data, m.data) === 0,
      wireRead: socket.bytesRead - read0,
      wireWritten: socket.bytesWritten - written0,
    });
  }

  report.ping.sent = 'ping from ws';
  ws.ping(report.ping.sent);
  report.ping.got = (await expect('pong', 'ping')).data.toString();

  ws.close(1000, 'bye');
  const closed = await expect('close', 'close');
  report.close = { code: closed.code, reason: closed.reason.toString() };
} catch (err) {
  report.error = String(err && err.stack ? err.stack : err);
}
stop();
finish(report);
