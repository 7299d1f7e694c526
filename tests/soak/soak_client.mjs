// Soak client: PAIRS pairs of websocket clients (socket.io-client 4.8, as rtc.io uses),
// each pair in its own room through join-room, relaying #rtcio:message envelopes both
// ways at RATE per client per second for SECONDS, every envelope numbered.
// The receiver checks each one: from its partner, addressed to itself, next in sequence.
// Prints progress lines "PROGRESS {...}" and one final "RESULT {...}" JSON line.
import { io } from "socket.io-client";
const URL = process.env.URL;
const PAIRS = parseInt(process.env.PAIRS || "150");
const RATE = parseFloat(process.env.RATE || "2");
const SECONDS = parseFloat(process.env.SECONDS || "20");
const CONNECT_BATCH = parseInt(process.env.CONNECT_BATCH || "100");
const PAD = "a=candidate:1 1 udp 2122260223 192.168.1.115 42780 typ host\r\n".repeat(parseInt(process.env.PAD_LINES || "4"));
const stats = { sent: 0, received: 0, lost: 0, duplicated: 0, misrouted: 0, reordered: 0, disconnected: 0, errors: [] };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const connect = () => new Promise((res, rej) => {
  const s = io(URL, { transports: ["websocket"], forceNew: true, reconnection: false, timeout: 60000 });
  s.once("connect", () => res(s));
  s.once("connect_error", (e) => rej(e));
});
function track(me, partner) {
  me.expect = 0; // next sequence number expected from partner
  me.on("#rtcio:message", (p) => {
    stats.received++;
    if (p.source !== partner.id || p.target !== me.id) { stats.misrouted++; return; }
    const seq = p.data.seq;
    if (seq === me.expect) me.expect++;
    else if (seq < me.expect) stats.duplicated++;
    else { stats.reordered++; stats.lost += seq - me.expect; me.expect = seq + 1; }
  });
  me.on("disconnect", (reason) => { if (!me.closing) { stats.disconnected++; if (stats.errors.length < 20) stats.errors.push("disconnect: " + reason); } });
}
async function makePair(i) {
  const a = await connect();
  const b = await connect();
  const joined = new Promise((res) => a.once("#rtcio:init-offer", res));
  await new Promise((res) => a.emit("join-room", { roomId: "soak-" + i, name: "a" }, res));
  b.emit("join-room", { roomId: "soak-" + i, name: "b" });
  const { source } = await joined;
  if (source !== b.id) throw new Error("init-offer from the wrong source");
  track(a, b); track(b, a);
  a.seq = 0; b.seq = 0;
  return [a, b];
}
const pairs = [];
try {
  for (let i = 0; i < PAIRS; i += CONNECT_BATCH) {
    const n = Math.min(CONNECT_BATCH, PAIRS - i);
    pairs.push(...await Promise.all(Array.from({ length: n }, (_, k) => makePair(i + k))));
  }
} catch (e) {
  console.log("RESULT " + JSON.stringify({ ...stats, fatal: "set-up: " + e.message, pairs: pairs.length }));
  process.exit(2);
}
console.log("CONNECTED " + JSON.stringify({ clients: pairs.length * 2 }));
function send(from, to) {
  from.emit("#rtcio:message", { source: from.id, target: to.id, data: { seq: from.seq++, candidate: { candidate: PAD, sdpMid: "0" } } });
  stats.sent++;
}
// Spread each client's sends evenly: every tick, each client sends rate*tick/1000.
// A warm-up at WARMUP_RATE comes first (buffers and stacks reach their working
// size), then "STEADY" is printed and the measured run at RATE begins.
const WARMUP = parseFloat(process.env.WARMUP_SECONDS || "0");
const WARMUP_RATE = parseFloat(process.env.WARMUP_RATE || String(RATE));
const TICK = 100;
async function phase(rate, seconds, t0) {
  const perTick = rate * TICK / 1000;
  let credit = 0;
  const start = performance.now();
  let lastProgress = start;
  while (performance.now() - start < seconds * 1000) {
    credit += perTick;
    while (credit >= 1) {
      for (const [a, b] of pairs) { send(a, b); send(b, a); }
      credit -= 1;
    }
    if (performance.now() - lastProgress > 1000) {
      lastProgress = performance.now();
      console.log("PROGRESS " + JSON.stringify({ t: +((lastProgress - t0) / 1000).toFixed(1), sent: stats.sent, received: stats.received }));
    }
    await sleep(TICK);
  }
}
const tStart = performance.now();
if (WARMUP > 0) await phase(WARMUP_RATE, WARMUP, tStart);
console.log("STEADY " + JSON.stringify({ sent: stats.sent }));
await phase(RATE, SECONDS, tStart);
// Drain: wait until every partner has seen every number, bounded.
const deadline = performance.now() + 60000;
const allIn = () => pairs.every(([a, b]) => a.expect >= b.seq && b.expect >= a.seq);
while (!allIn() && performance.now() < deadline) await sleep(100);
for (const [a, b] of pairs) {
  stats.lost += Math.max(0, b.seq - a.expect) + Math.max(0, a.seq - b.expect);
}
const elapsed = (performance.now() - tStart) / 1000;
console.log("RESULT " + JSON.stringify({ ...stats, clients: pairs.length * 2, seconds: +elapsed.toFixed(1), drained: allIn() }));
for (const [a, b] of pairs) { a.closing = b.closing = true; a.close(); b.close(); }
process.exit(0);
