// The bench's loadgen pattern (../shared/bench/loadgen.mjs) with every relay
// acknowledged: PAIRS rooms of two socket.io-client 4.8 clients; "a" joins
// and, without waiting for its join-ok, "b" connects and joins (as the
// loadgen does); then every "a" sends MSGS envelopes to its "b" in waves.
// Prints one JSON line: envelopes sent, delivered, refused (ack ok:false,
// by reason), join errors, pairs whose init-offer went the wrong way.
import { io } from "socket.io-client";
const URL = process.env.URL;
const PAIRS = parseInt(process.env.PAIRS || "50");
const MSGS = parseInt(process.env.MSGS || "20");
const SDP = "v=0\r\n" + "a=candidate:1 1 udp 2122260223 192.168.1.115 42780 typ host\r\n".repeat(40);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = { pairs: PAIRS, sent: 0, delivered: 0, refused: {}, joinErrors: [], reversed: 0 };
function connect() {
  return new Promise((res, rej) => {
    const s = io(URL, { transports: ["websocket"], forceNew: true, reconnection: false });
    s.once("connect", () => res(s));
    s.once("connect_error", rej);
    s.on("join-error", (e) => out.joinErrors.push(e));
    s.on("error", (e) => out.joinErrors.push(e));
  });
}
const pairs = [];
for (let i = 0; i < PAIRS; i++) {
  const a = await connect();
  const aOffered = new Promise((res) => a.once("#rtcio:init-offer", res));
  a.emit("join-room", { roomId: "load-" + i, name: "a" + i });
  const b = await connect();
  const bOffered = new Promise((res) => b.once("#rtcio:init-offer", res));
  b.emit("join-room", { roomId: "load-" + i, name: "b" + i });
  const first = await Promise.race([aOffered.then(() => "a"), bOffered.then(() => "b"), sleep(20000).then(() => "none")]);
  if (first !== "a") out.reversed++;
  pairs.push({ a, b });
}
const total = PAIRS * MSGS;
const done = new Promise((res) => {
  for (const { b } of pairs) b.on("#rtcio:message", () => { if (++out.delivered === total) res(); });
});
const acks = [];
for (let m = 0; m < MSGS; m++) {
  for (const { a, b } of pairs) {
    out.sent++;
    acks.push(a.timeout(60000).emitWithAck("#rtcio:message", { target: b.id, data: { description: { type: "offer", sdp: SDP } } })
      .then((ack) => { if (ack && ack.ok === false) out.refused[ack.error || ack.reason] = (out.refused[ack.error || ack.reason] || 0) + 1; })
      .catch(() => { out.refused.noAck = (out.refused.noAck || 0) + 1; }));
  }
  if (m % 10 === 9) await sleep(0);
}
await Promise.all(acks);
await Promise.race([done, sleep(60000)]);
console.log(JSON.stringify(out));
for (const { a, b } of pairs) { a.close(); b.close(); }
process.exit(0);
