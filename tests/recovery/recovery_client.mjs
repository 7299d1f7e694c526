// Two socket.io-client 4.8 sockets in one room: A goes through the cutting
// proxy (PROXY_URL), B straight to the server (DIRECT_URL). The harness
// (test_recovery.py) drives the steps over stdin/stdout, one JSON line each.
// MODE=recover: B relays envelopes 2..6 to A during the cut, A must come
// back with the same id, recovered, and get them once each, in order.
// MODE=expire: the cut outlasts the window; B must see A leave.
import { io } from "socket.io-client";
import { fastOptions, nextLine, out, sleep, until } from "./steps.mjs";

const transports = (process.env.TRANSPORTS || "websocket").split(",");
const opts = fastOptions(transports);

const log = { a: [], b: [], aConnects: [], aDisconnects: [] };
// COOKIE: A's handshake carries it (a logged-in user's Flask session)
const aOpts = process.env.COOKIE ? { ...opts, extraHeaders: { cookie: process.env.COOKIE } } : opts;
const a = io(process.env.PROXY_URL, aOpts);
const b = io(process.env.DIRECT_URL, opts);
a.on("connect", () => log.aConnects.push({ id: a.id, recovered: a.recovered }));
a.on("disconnect", (reason) => log.aDisconnects.push(reason));
a.on("#rtcio:message", (env) => log.a.push(["msg", env.data.n, env.source]));
b.on("#rtcio:message", (env) => log.b.push(["msg", env.data.n, env.source]));
for (const ev of ["#rtcio:peer-left", "user-disconnected", "user-connected"]) {
  b.on(ev, (d) => log.b.push([ev, d.id]));
  a.on(ev, (d) => log.a.push([ev, d.id]));
}
const relay = (from, to, n) => from.emit("#rtcio:message", { source: from.id, target: to, data: { n } });
const got = (side, n) => log[side].filter((e) => e[0] === "msg" && e[1] === n).length;

try {
  await until("both connected", () => a.connected && b.connected);
  let ok = 0;
  a.once("join-ok", () => ok++); a.emit("join-room", { roomId: process.env.ROOM, name: "a" });
  await until("a joined", () => ok === 1);
  b.once("join-ok", () => ok++); b.emit("join-room", { roomId: process.env.ROOM, name: "b" });
  await until("b joined", () => ok === 2);
  relay(a, b.id, 1); relay(b, a.id, 1);
  await until("relay before the cut", () => got("a", 1) === 1 && got("b", 1) === 1);
  const aId = a.id;
  out({ step: "cut", aId, bId: b.id });
  await nextLine();
  await until("A to notice the cut", () => !a.connected);
  if (process.env.MODE === "recover") {
    // one at a time (the ack says the server handled it): with a message
    // queue python-socketio handles one client's events concurrently
    for (let n = 2; n <= 6; n++) {
      await b.timeout(5000).emitWithAck("#rtcio:message", { source: b.id, target: aId, data: { n } });
    }
  }
  out({ step: "gap" });
  await nextLine();
  await until("A back", () => a.connected && log.aConnects.length >= 2, 20000);
  if (process.env.MODE === "recover") {
    await until("missed envelopes", () => [2, 3, 4, 5, 6].every((n) => got("a", n) >= 1));
    relay(a, b.id, 7); relay(b, a.id, 7);
    await until("relay after recovery", () => got("a", 7) === 1 && got("b", 7) === 1);
  }
  await sleep(300); // room for duplicates to show up
  out({ step: "done", aId, aIdAfter: a.id, recovered: a.recovered, log });
} catch (e) {
  out({ step: "error", error: String(e), log });
} finally {
  a.close(); b.close();
  setTimeout(() => process.exit(0), 100);
}
