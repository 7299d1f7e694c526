// The reference load (PAIRS rooms of two clients; each first member relays MSGS
// SDP-sized envelopes to the second) over several processes of one deployment:
// URLS is a comma-separated list, pair i's first member connects to URLS[i % n]
// and its second to URLS[(i + 1) % n], so with two URLs every envelope crosses
// processes through the message queue. With one URL it is loadgen.mjs's load.
// One JSON line: what loadgen.mjs prints, plus what went wrong, counted:
// join errors, refusals ("error" events, acks), envelopes out of order or
// delivered twice. Used by bench/run.py and by tests/deploy.
import { io } from "socket.io-client";
const URLS = (process.env.URLS || process.env.URL || "http://127.0.0.1:3001").split(",");
const PAIRS = parseInt(process.env.PAIRS || "50");
const MSGS = parseInt(process.env.MSGS || "200");
const TIMEOUT_MS = parseInt(process.env.TIMEOUT_MS || "120000");
const SDP = "v=0\r\n" + "a=candidate:1 1 udp 2122260223 192.168.1.115 42780 typ host\r\n".repeat(40);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const problems = { connect_errors: 0, join_errors: 0, refused: 0, out_of_order: 0, duplicates: 0 };
function connect(url) {
  return new Promise((res, rej) => {
    const s = io(url, { transports: ["websocket"], forceNew: true, reconnection: false });
    s.once("connect", () => res(s));
    s.once("connect_error", (e) => { problems.connect_errors++; rej(e); });
    s.on("join-error", () => problems.join_errors++);
    s.on("error", () => problems.refused++);
  });
}
const t0 = performance.now();
const pairs = [];
for (let i = 0; i < PAIRS; i++) {
  const a = await connect(URLS[i % URLS.length]);
  a.emit("join-room", { roomId: "split-" + i + "-" + t0, name: "a" + i });
  const b = await connect(URLS[(i + 1) % URLS.length]);
  // Across processes a's join may land in the store after b's: then b is
  // the one offered to. Either way the pair is connected.
  const offered = new Promise((res) => {
    a.once("#rtcio:init-offer", ({ source }) => res(source === b.id));
    b.once("#rtcio:init-offer", ({ source }) => res(source === a.id));
  });
  b.emit("join-room", { roomId: "split-" + i + "-" + t0, name: "b" + i });
  if (!await offered) throw new Error("init-offer source mismatch");
  pairs.push({ a, b, next: 0, got: 0 });
}
const tConnected = performance.now();
const lat = [];
let received = 0;
const total = PAIRS * MSGS;
const done = new Promise((res) => {
  for (const pair of pairs) pair.b.on("#rtcio:message", (p) => {
    lat.push(performance.now() - p.data.t);
    if (p.source !== pair.a.id) problems.refused++;
    if (p.data.n < pair.next) problems.duplicates++;
    else if (p.data.n > pair.next) problems.out_of_order++;
    pair.next = p.data.n + 1;
    pair.got++;
    if (++received === total) res();
  });
});
const tStart = performance.now();
// Waves, as loadgen.mjs: the servers see concurrent traffic from every pair.
for (let m = 0; m < MSGS; m++) {
  for (const { a, b } of pairs) a.emit("#rtcio:message", { source: a.id, target: b.id, data: { description: { type: "offer", sdp: SDP }, t: performance.now(), n: m } });
  if (m % 10 === 9) await sleep(0);
}
const r = await Promise.race([done, sleep(TIMEOUT_MS).then(() => "timeout")]);
const tEnd = performance.now();
lat.sort((x, y) => x - y);
const pct = (q) => lat.length ? +lat[Math.min(lat.length - 1, Math.floor(q * lat.length))].toFixed(2) : null;
console.log(JSON.stringify({ urls: URLS, pairs: PAIRS, msgs: total, received, timedOut: r === "timeout",
  connect_ms: +(tConnected - t0).toFixed(1), relay_s: +((tEnd - tStart) / 1000).toFixed(3),
  msgs_per_s: Math.round(received / ((tEnd - tStart) / 1000)), p50_ms: pct(0.5), p99_ms: pct(0.99),
  short_pairs: pairs.filter((p) => p.got !== MSGS).length, ...problems }));
for (const { a, b } of pairs) { a.close(); b.close(); }
process.exit(0);
