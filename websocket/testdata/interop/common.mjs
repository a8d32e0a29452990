// Shared by ws-client.mjs and h2-client.mjs: the messages both clients
// send to a molt echo endpoint, and how they report.
//
// A client prints one JSON object on stdout and exits 0 once it has run
// every step; the Go test (websocket/interop_test.go) decides whether the
// results are right. A client that cannot run to the end prints the
// object with "error" set and exits 1.

import { randomBytes } from 'node:crypto';

// messages lists what a client sends, in order, one message at a time,
// each waiting for its echo. fragments, when present, is how the message
// is split into frames (its concatenation is data).
export function messages() {
  return [
    { name: 'text', binary: false, data: Buffer.from('hello, molt') },
    { name: 'text-utf8', binary: false, data: Buffer.from('h\u00e9llo w\u00f6rld \u2713 \u{1f980}') },
    { name: 'text-empty', binary: false, data: Buffer.alloc(0) },
    { name: 'binary-256', binary: true, data: Buffer.from(Array.from({ length: 256 }, (_, i) => i)) },
    {
      name: 'text-fragmented',
      binary: false,
      data: Buffer.from('frag-ment-ed'),
      fragments: [Buffer.from('frag-'), Buffer.from('ment-'), Buffer.from('ed')],
    },
    { name: 'binary-1MiB-random', binary: true, data: randomBytes(1 << 20) },
    // Compressible: with permessage-deflate it crosses the wire in a few KiB.
    { name: 'text-1MiB-compressible', binary: false, data: Buffer.from('molt '.repeat((1 << 20) / 5 + 1).slice(0, 1 << 20)) },
  ];
}

// typeName names a message type the way the report does.
export function typeName(binary) {
  return binary ? 'binary' : 'text';
}

// newReport returns the report a client fills in.
export function newReport(client) {
  return {
    client,
    error: '',
    status: 0, // of the handshake response: 101 over HTTP/1.1, 200 over HTTP/2
    extensions: '', // the response's Sec-WebSocket-Extensions
    exchanges: [],
    ping: { sent: '', got: '' },
    close: { code: 0, reason: '' },
  };
}

// finish prints the report and exits: 0 if it has no error, else 1.
export function finish(report) {
  process.stdout.write(JSON.stringify(report) + '\n', () => {
    process.exit(report.error ? 1 : 0);
  });
}

// guard fails the run after ms milliseconds, so that a hang becomes a
// report (the Go test has its own, longer, timeout too).
export function guard(report, ms) {
  const timer = setTimeout(() => {
    report.error = `timed out after ${ms} ms`;
    finish(report);
  }, ms);
  return () => clearTimeout(timer);
}

// Inbox turns events into awaitable values: put delivers to the oldest
// waiter or queues; take returns a promise of the next value.
export class Inbox {
  constructor() {
    this.values = [];
    this.waiters = [];
  }

  put(v) {
    const w = this.waiters.shift();
    if (w) {
      w(v);
    } else {
      this.values.push(v);
    }
  }

  take() {
    if (this.values.length > 0) {
      return Promise.resolve(this.values.shift());
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
