// h2-client.mjs URL [PATH]: a WebSocket over HTTP/2 (RFC 8441) with a
// client molt did not write. Node's built-in http2 module connects to the
// h2c server at URL (http://127.0.0.1:PORT, HTTP/2 by prior knowledge),
// waits for SETTINGS_ENABLE_CONNECT_PROTOCOL, opens an extended CONNECT
// stream (:protocol websocket) to PATH (default /ws) offering
// permessage-deflate, and frames messages on it with the ws package's own
// Sender, Receiver and PerMessageDeflate. It sends every message of
// common.mjs and reads its echo, pings, closes with 1000, ends its side of
// the stream and prints a JSON report (see common.mjs) with, in addition:
//
//	enableConnectProtocol  the server's SETTINGS_ENABLE_CONNECT_PROTOCOL
//	acceptHeader           whether the 200 carried Sec-WebSocket-Accept (it must not)
//	streamRstCode          the stream's RST_STREAM code when it closed (0: none or NO_ERROR)
//
// wireRead and wireWritten count the WebSocket bytes (frame headers and
// payload) carried by the stream's DATA frames during each exchange.

import http2 from 'node:http2';
import { PerMessageDeflate, Receiver, Sender, extension } from 'ws';
import { Inbox, finish, guard, messages, newReport, typeName } from './common.mjs';

const base = process.argv[2];
const path = process.argv[3] || '/ws';
const report = newReport('node-http2');
report.nodeVersion = process.version;
report.enableConnectProtocol = false;
report.acceptHeader = false;
report.streamRstCode = -1;
const stop = guard(report, 60_000);

let session;
try {
  session = http2.connect(base);
  const settings = await new Promise((resolve, reject) => {
    session.once('remoteSettings', resolve);
    session.once('error', reject);
  });
  report.enableConnectProtocol = !!settings.enableConnectProtocol;
  if (!report.enableConnectProtocol) {
    throw new Error('the server did not send SETTINGS_ENABLE_CONNECT_PROTOCOL=1');
  }

  const pmd = new PerMessageDeflate({ clientNoContextTakeover: true });
  const stream = session.request({
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': 'http',
    ':path': path,
    'sec-websocket-version': '13',
    'sec-websocket-extensions': extension.format({ [PerMessageDeflate.extensionName]: pmd.offer() }),
  });
  const headers = await new Promise((resolve, reject) => {
    stream.once('response', resolve);
    stream.once('error', reject);
    stream.once('close', () => reject(new Error(`stream closed before a response (RST_STREAM code ${stream.rstCode})`)));
  });
  report.status = headers[':status'];
  report.acceptHeader = 'sec-websocket-accept' in headers;
  report.extensions = headers['sec-websocket-extensions'] || '';
  if (report.status !== 200) {
    throw new Error(`extended CONNECT answered ${report.status}`);
  }
  const extensions = {};
  if (report.extensions) {
    const offered = extension.parse(report.extensions)[PerMessageDeflate.extensionName];
    if (!offered) {
      throw new Error(`the server answered an extension not offered: ${report.extensions}`);
    }
    pmd.accept(offered);
    extensions[PerMessageDeflate.extensionName] = pmd;
  }

  const deflate = PerMessageDeflate.extensionName in extensions;
  const inbox = new Inbox();
  let wireRead = 0;
  let wireWritten = 0;
  const write = stream.write.bind(stream);
  stream.write = (chunk, ...rest) => {
    wireWritten += chunk.length;
    return write(chunk, ...rest);
  };
  stream.on('data', (chunk) => {
    wireRead += chunk.length;
  });
  const streamClosed = new Promise((resolve) => stream.once('close', resolve));

  const sender = new Sender(stream, extensions);
  const receiver = new Receiver({ extensions, isServer: false, binaryType: 'nodebuffer' });
  receiver.on('message', (data, isBinary) => inbox.put({ kind: 'message', data, isBinary }));
  receiver.on('ping', (data) => sender.pong(data, true));
  receiver.on('pong', (data) => inbox.put({ kind: 'pong', data }));
  receiver.on('conclude', (code, reason) => inbox.put({ kind: 'close', code, reason }));
  receiver.on('error', (err) => inbox.put({ kind: 'error', err }));
  stream.pipe(receiver);
  stream.on('error', (err) => inbox.put({ kind: 'error', err }));
  stream.on('end', () => inbox.put({ kind: 'end' }));

  const expect = async (kind, what) => {
    const ev = await inbox.take();
    if (ev.kind !== kind) {
      const detail = ev.kind === 'close' ? ` (code ${ev.code} ${ev.reason})` : ev.kind === 'error' ? ` (${ev.err.message})` : '';
      throw new Error(`${what}: got ${ev.kind}${detail}, want ${kind}`);
    }
    return ev;
  };

  for (const m of messages()) {
    const read0 = wireRead;
    const written0 = wireWritten;
    const parts = m.fragments || [m.data];
    parts.forEach((f, i) => {
      sender.send(f, { binary: m.binary, compress: deflate, fin: i === parts.length - 1, mask: true });
    });
    const ev = await expect('message', m.name);
    report.exchanges.push({
      name: m.name,
      sentType: typeName(m.binary),
      sentLen: m.data.length,
      gotType: typeName(ev.isBinary),
      gotLen: ev.data.length,
      equal: Buffer.compare(ev.data, m.data) === 0,
      wireRead: wireRead - read0,
      wireWritten: wireWritten - written0,
    });
  }

  report.ping.sent = 'ping from node http2';
  sender.ping(Buffer.from(report.ping.sent), true);
  report.ping.got = (await expect('pong', 'ping')).data.toString();

  sender.close(1000, 'bye', true);
  const closed = await expect('close', 'close');
  report.close = { code: closed.code, reason: closed.reason.toString() };
  // After the close handshake each side ends its half of the stream.
  stream.end();
  await streamClosed;
  report.streamRstCode = stream.rstCode ?? 0;
} catch (err) {
  report.error = String(err && err.stack ? err.stack : err);
}
if (session) {
  session.close();
}
stop();
finish(report);
