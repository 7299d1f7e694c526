// Full-mesh signaling load, as browsers produce it: N socket.io-client 4.8
// clients (websocket) in one room through join-room. Every pair signals as
// rtc.io does: the existing member gets #rtcio:init-offer and sends its offer
// plus CANDIDATES candidates at once; the newcomer answers with its answer
// plus CANDIDATES candidates at once. Each receiver counts envelopes per source.
//
// MODE=newcomer: N-1 members join one by one (each settled before the next),
//   then the newcomer joins; the newcomer's 2 * (N-1) * (1 + CANDIDATES)
//   envelopes are the measured phase.
// MODE=all: N clients connect, then all send join-room at the same moment;
//   N * (N-1) * (1 + CANDIDATES) envelopes are measured.
// FLOOD_FACTOR>0: afterwards client 0 sends relay envelopes to its peers at
//   FLOOD_FACTOR times FLOOD_ALLOWANCE per second, for at most FLOOD_SECONDS,
//   and reports whether (and after how long) the server disconnected it.
// Prints one "RESULT {...}" JSON line.
import { io } from "socket.io-client";
const URL = process.env.URL;
const N = parseInt(process.env.N || "50");
const MODE = process.env.MODE || "newcomer";
const CANDIDATES = parseInt(process.env.CANDIDATES || "8");
const WAIT = parseFloat(process.env.WAIT_SECONDS || "60") * 1000;
const FLOOD_FACTOR = parseFloat(process.env.FLOOD_FACTOR || "0");
const FLOOD_ALLOWANCE = parseFloat(process.env.FLOOD_ALLOWANCE || "0");
const FLOOD_SECONDS = parseFloat(process.env.FLOOD_SECONDS || "30");
const ROOM = "mesh";
const SDP = ("v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
  "a=group:BUNDLE 0 1\r\n" + "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n".repeat(40)).slice(0, 3000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const stats = { expected: 0, received: 0, misrouted: 0, disconnected: 0, joinErrors: 0, errors: [] };
let measuring = false;

function candidate(i) {
  return { candidate: { candidate: `candidate:${i} 1 udp 2122260223 192.168.1.${i} 4${i}780 typ host`, sdpMid: "0", sdpMLineIndex: 0, usernameFragment: "abcd" } };
}
function signal(from, to, type) {
  from.emit("#rtcio:message", { source: from.id, target: to, data: { description: { type, sdp: SDP } } });
  for (let i = 0; i < CANDIDATES; i++) from.emit("#rtcio:message", { source: from.id, target: to, data: candidate(i) });
}
const connect = () => new Promise((res, rej) => {
  const s = io(URL, { transports: ["websocket"], forceNew: true, reconnection: false, timeout: 60000 });
  s.once("connect", () => res(s));
  s.once("connect_error", (e) => rej(e));
});
function wire(s) {
  s.on("#rtcio:init-offer", ({ source }) => signal(s, source, "offer"));
  s.on("#rtcio:message", (p) => {
    if (p.target !== s.id) { stats.misrouted++; return; }
    if (measuring) stats.received++;
    const d = p.data && p.data.description;
    if (d && d.type === "offer") signal(s, p.source, "answer");
  });
  s.on("join-error", (e) => { stats.joinErrors++; stats.errors.push("join-error " + JSON.stringify(e)); });
  s.on("error", (e) => { stats.joinErrors++; stats.errors.push("error " + JSON.stringify(e)); });
  s.on("disconnect", (reason) => { if (!s.closing) { stats.disconnected++; if (stats.errors.length < 20) stats.errors.push("disconnect: " + reason); } });
}
const join = (s) => new Promise((res) => s.emit("join-room", { roomId: ROOM, name: "m" }, res));
async function settle(target, counter) {
  const t0 = Date.now();
  while (counter() < target && Date.now() - t0 < WAIT) await sleep(50);
  return Date.now() - t0;
}

const clients = [];
let settleMs = 0;
try {
  for (let i = 0; i < N; i += 25) clients.push(...await Promise.all(Array.from({ length: Math.min(25, N - i) }, connect)));
  clients.forEach(wire);
  const per = 1 + CANDIDATES;
  if (MODE === "newcomer") {
    // Set-up: members one by one, every pair settled before the next join.
    let setup = 0;
    for (const s of clients) s.on("#rtcio:message", () => { if (!measuring) setup++; });
    for (let k = 0; k < N - 1; k++) {
      await join(clients[k]);
      await settle(k * (k + 1) * per, () => setup); // pairs so far, both ways
    }
    stats.setupReceived = setup;
    stats.setupExpected = (N - 1) * (N - 2) * per;
    measuring = true;
    stats.expected = 2 * (N - 1) * per;
    await join(clients[N - 1]);
    settleMs = await settle(stats.expected, () => stats.received);
  } else {
    measuring = true;
    stats.expected = N * (N - 1) * per;
    await Promise.all(clients.map(join));
    settleMs = await settle(stats.expected, () => stats.received);
  }
  await sleep(500); // anything extra (duplicates) would show up here
} catch (e) {
  stats.errors.push("fatal: " + e.message);
}
stats.lost = stats.expected - stats.received;
stats.disconnectedMeasured = stats.disconnected; // before any flood
stats.settleMs = settleMs;

if (FLOOD_FACTOR > 0 && clients.length) {
  const flooder = clients[0];
  const peers = clients.slice(1).map((c) => c.id);
  const rate = FLOOD_FACTOR * FLOOD_ALLOWANCE;
  const before = stats.disconnected;
  let gone = null;
  flooder.once("disconnect", () => { gone = Date.now(); });
  const t0 = Date.now();
  let sent = 0, k = 0;
  while (gone === null && Date.now() - t0 < FLOOD_SECONDS * 1000) {
    const due = Math.floor((Date.now() - t0) / 1000 * rate);
    while (sent < due) { flooder.emit("#rtcio:message", { source: flooder.id, target: peers[k++ % peers.length], data: candidate(1) }); sent++; }
    await sleep(10);
  }
  stats.flood = { rate, sent, disconnectedAfterMs: gone === null ? null : gone - t0, othersDisconnected: stats.disconnected - before - (gone === null ? 0 : 1) };
}
for (const s of clients) { s.closing = true; s.close(); }
console.log("RESULT " + JSON.stringify(stats));
process.exit(0);
