// ws-server.mjs: the npm ws server, for molt's WebSocket client
// (websocket.Dial) to talk to over HTTP/1.1 (interop_test.go,
// TestNodeWSServer). It listens on 127.0.0.1 on a free port with
// permessage-deflate enabled (any message of 1 byte or more compressed,
// context takeover as the client's offer allows), echoes every message
// with its type, answers pings (ws does that itself), and rejects an
// unmasked client frame (ws does that too, with close 1002).
//
// It prints one JSON line {"port": N} once listening, then one line per
// connection when that connection closes:
//   {"extensions": "...", "protocol": "...", "messages": N, "pings": N,
//    "code": N, "reason": "...", "bytesRead": N, "bytesWritten": N,
//    "header": {"x-molt-test": "..."}}
// bytesRead and bytesWritten count the TCP connection's bytes after the
// handshake. It exits when stdin closes.

import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: { threshold: 1, clientMaxWindowBits: true },
  handleProtocols: (protocols) => (protocols.has('molt.v1') ? 'molt.v1' : false),
  maxPayload: 16 << 20,
});

wss.on('listening', () => {
  process.stdout.write(JSON.stringify({ port: wss.address().port }) + '\n');
});

wss.on('connection', (ws, req) => {
  const socket = req.socket;
  const read0 = socket.bytesRead;
  const written0 = socket.bytesWritten;
  const seen = {
    extensions: ws.extensions,
    protocol: ws.protocol,
    messages: 0,
    pings: 0,
    header: { 'x-molt-test': req.headers['x-molt-test'] || '' },
  };
  ws.on('message', (data, isBinary) => {
    seen.messages++;
    ws.send(data, { binary: isBinary });
  });
  ws.on('ping', () => seen.pings++);
  ws.on('close', (code, reason) => {
    seen.code = code;
    seen.reason = reason.toString();
    seen.bytesRead = socket.bytesRead - read0;
    seen.bytesWritten = socket.bytesWritten - written0;
    process.stdout.write(JSON.stringify(seen) + '\n');
  });
  ws.on('error', () => {}); // reported through close
});

process.stdin.resume();
process.stdin.on('end', () => {
  for (const ws of wss.clients) ws.terminate();
  wss.close(() => process.exit(0));
});
