// A rolling restart on two processes sharing one Redis (test_rolling.py
// drives the steps over stdin/stdout, one JSON line each).
// MODE=drain: A and C on FIRST_URL, B on SECOND_URL, one room. FIRST gets
// SIGTERM; B relays 2..6 to A and C while they are away. C comes back by
// itself through a "balancer" (after a drop its next attempt goes to the
// other process); A only when told, so the relays surely fall in its gap.
// Both must recover on SECOND: same id, recovered, every envelope once and
// in order, still members after FIRST's fleet sweep.
// MODE=kill: X on PROXY_URL (to FIRST), B on SECOND_URL. The proxy cuts X
// (FIRST holds it), FIRST gets SIGKILL, X never comes back: the fleet
// sweep of FIRST leaves it (held), SECOND departs it when its window ends,
// once.
import { io } from "socket.io-client";
import { fastOptions, nextLine, out, sleep, until } from "./steps.mjs";

const opts = fastOptions((process.env.TRANSPORTS || "websocket").split(","));
const { FIRST_URL, SECOND_URL, PROXY_URL, ROOM, MODE } = process.env;
const log = {};
const connects = {};
const reasons = {};
const sockets = {};
const events = ["#rtcio:peer-left", "user-disconnected", "user-connected",
  "user-reconnecting", "user-reconnected"];

function client(name, url, extra = {}) {
  const s = io(url, { ...opts, ...extra });
  log[name] = []; connects[name] = []; reasons[name] = [];
  s.on("connect", () => connects[name].push({ id: s.id, recovered: s.recovered }));
  s.on("disconnect", (reason) => {
    reasons[name].push(reason);
    s.io.uri = SECOND_URL; // the balancer: FIRST is going away
  });
  s.on("#rtcio:message", (env) => log[name].push(["msg", env.data.n, env.source]));
  for (const ev of events) s.on(ev, (d) => log[name].push([ev, d.id]));
  sockets[name] = s;
  return s;
}
const relay = (from, to, n) => from.emit("#rtcio:message", { source: from.id, target: to, data: { n } });
const relayAcked = (from, to, n) => from.timeout(5000).emitWithAck(
  "#rtcio:message", { source: from.id, target: to, data: { n } });
const got = (name, n) => log[name].filter((e) => e[0] === "msg" && e[1] === n).length;
const count = (name, ev, id) => log[name].filter((e) => e[0] === ev && e[1] === id).length;
async function join(s, name) {
  let ok = false;
  s.once("join-ok", () => { ok = true; });
  s.emit("join-room", { roomId: ROOM, name });
  await until(name + " joined", () => ok);
}
const members = async (s) => (await s.timeout(5000).emitWithAck("api-members", ROOM))
  .map((m) => ({ id: m.id, reconnecting: !!m.reconnecting }));
const report = (step, more) => out({ step, log, connects, reasons, ...more });

async function drain() {
  const a = client("a", FIRST_URL, { reconnection: false });
  const c = client("c", FIRST_URL);
  const b = client("b", SECOND_URL);
  // EXTRA more sockets on FIRST, back by themselves: the drain must hold
  // every one of them, not only the first few
  const extras = [...Array(Number(process.env.EXTRA || 0)).keys()]
    .map((i) => client("e" + i, FIRST_URL));
  await until("all connected", () => Object.values(sockets).every((s) => s.connected));
  for (const [s, name] of [[a, "a"], [c, "c"], [b, "b"]]) await join(s, name);
  for (const [i, s] of extras.entries()) await join(s, "e" + i);
  for (const s of [a, c]) { relay(s, b.id, 1); relay(b, s.id, 1); }
  await until("relay before the drain", () => got("a", 1) && got("c", 1) && got("b", 1) === 2);
  const ids = { a: a.id, b: b.id, c: c.id };
  const firstId = await a.timeout(5000).emitWithAck("api-server-id");
  report("drain", { ids, firstId });
  await nextLine();
  await until("A and C to notice the drain", () => !a.connected && !c.connected);
  for (let n = 2; n <= 6; n++) {
    await relayAcked(b, ids.a, n);
    await relayAcked(b, ids.c, n);
  }
  a.connect(); // to SECOND: its disconnect handler pointed it there
  await until("A, C and the extras back", () => Object.entries(sockets).every(
    ([name, s]) => name === "b" || (connects[name].length >= 2 && s.connected)), 30000);
  await until("missed envelopes", () => [2, 3, 4, 5, 6].every((n) => got("a", n) && got("c", n)));
  for (const s of [a, c]) { relay(s, b.id, 7); relay(b, s.id, 7); }
  await until("relay after recovery", () => got("a", 7) && got("c", 7) && got("b", 7) === 2);
  // a client is back at its CONNECT reply; its room hears it (and lists it
  // as no longer reconnecting) once the restore is done: the extras are
  // restored one after another, the last may still be on its way
  await until("B to hear every held socket back", () => ["a", "c", ...extras.map((_, i) => "e" + i)]
    .every((name) => count("b", "user-reconnected", sockets[name].id) >= 1));
  const secondId = await a.timeout(5000).emitWithAck("api-server-id");
  report("recovered", { ids, secondId, members: await members(b),
    after: { a: a.id, c: c.id } });
  await nextLine(); // FIRST's heartbeat is gone and the fleet swept it
  for (const s of [a, c]) relay(b, s.id, 8);
  await until("relay after the sweep", () => got("a", 8) && got("c", 8));
  await sleep(300); // room for duplicates and stray departures to show up
  report("done", { members: await members(b) });
}

async function kill() {
  // COOKIE: X's handshake carries it (a logged-in user's Flask session)
  const x = client("x", PROXY_URL, { reconnection: false,
    ...(process.env.COOKIE ? { extraHeaders: { cookie: process.env.COOKIE } } : {}) });
  const b = client("b", SECOND_URL);
  await until("both connected", () => x.connected && b.connected);
  await join(x, "x"); await join(b, "b");
  relay(x, b.id, 1); relay(b, x.id, 1);
  await until("relay", () => got("x", 1) && got("b", 1));
  const xId = x.id;
  const firstId = await x.timeout(5000).emitWithAck("api-server-id");
  report("cut", { xId, firstId });
  await nextLine();
  await until("FIRST to hold X", () => count("b", "user-reconnecting", xId) === 1);
  report("held", { members: await members(b) });
  await nextLine(); // FIRST was killed, and the fleet swept it
  report("swept", { members: await members(b) });
  await until("X to depart", () => count("b", "user-disconnected", xId) >= 1, 60000);
  await sleep(1000); // room for a second departure to show up
  report("done", { members: await members(b) });
}

try {
  await (MODE === "kill" ? kill() : drain());
} catch (e) {
  out({ step: "error", error: String(e), log, connects, reasons });
} finally {
  for (const s of Object.values(sockets)) s.close();
  setTimeout(() => process.exit(0), 100);
}
