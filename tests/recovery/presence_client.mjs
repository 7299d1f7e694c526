// Presence through a drop, with socket.io-client 4.8: A goes through the
// cutting proxy (PROXY_URL), B and C straight to the server (DIRECT_URL).
// MODE=goodbye: A's websocket closes with close code CODE (a page going
//   away sends 1001), no socket.io DISCONNECT; B must hear A leave at once.
// MODE=blip: the harness cuts A; B hears user-reconnecting, the members
//   list and a newcomer C's join answer mark A reconnecting; A comes back;
//   B hears user-reconnected and the mark is gone.
// Steps go over stdin/stdout, one JSON line each (see test_presence.py).
import { io } from "socket.io-client";
import { fastOptions, nextLine, out, sleep, until } from "./steps.mjs";

const opts = fastOptions(["websocket"]);
const ROOM = process.env.ROOM;
const log = { b: [], c: [] };
const sockets = [];
function client(url, side) {
  const s = io(url, opts);
  sockets.push(s);
  if (side) {
    for (const ev of ["user-connected", "user-disconnected", "user-reconnecting", "user-reconnected"]) {
      s.on(ev, (d) => log[side].push([ev, d.id, d.reconnecting === true]));
    }
  }
  return s;
}
async function join(s, name) {
  let ok = false;
  s.once("join-ok", () => { ok = true; });
  s.emit("join-room", { roomId: ROOM, name });
  await until(name + " joined", () => ok);
}
const heard = (side, ev, id) => log[side].filter((e) => e[0] === ev && e[1] === id).length;

try {
  const a = client(process.env.PROXY_URL, null);
  const b = client(process.env.DIRECT_URL, "b");
  await until("connected", () => a.connected && b.connected);
  const aId = a.id;
  if (!["forge", "hijack"].includes(process.env.MODE)) { await join(a, "a"); await join(b, "b"); }
  if (process.env.MODE === "goodbye") {
    const t0 = Date.now();
    a.io.engine.transport.ws.close(Number(process.env.CODE));
    await until("B hears A leave", () => heard("b", "user-disconnected", aId) === 1, 20000);
    const members = await b.timeout(5000).emitWithAck("api-members", ROOM);
    out({ step: "done", aId, ms: Date.now() - t0, log, members });
  } else if (process.env.MODE === "hijack") {
    // C names A's pid (as if it had stolen it) while A is connected
    await join(a, "a"); await join(b, "b");
    await sleep(Number(process.env.WAIT_MS || 0)); // pings go back and forth
    const c = io(process.env.DIRECT_URL, { ...opts, autoConnect: false });
    sockets.push(c);
    c._pid = a._pid;
    c._lastOffset = a._lastOffset; // a CONNECT that could recover
    c.connect();
    await until("C connected", () => c.connected);
    const got = { a: [], c: [] };
    a.on("#rtcio:message", (env) => got.a.push(env.data.n));
    c.on("#rtcio:message", (env) => got.c.push(env.data.n));
    await sleep(300);
    b.emit("#rtcio:message", { source: b.id, target: aId, data: { n: 1 } });
    await until("A gets B's envelope", () => got.a.length === 1);
    await sleep(300);
    out({ step: "done", aId, cId: c.id, cRecovered: c.recovered, aConnected: a.connected,
          aIdNow: a.id, got, samePid: c._pid === a._pid, offsetType: typeof a._lastOffset });
  } else if (process.env.MODE === "forge") {
    // A's offsets so far: from before it joined the room (a pong to itself)
    const chats = [];
    const bHeardLeave = [];
    a.on("chat-message", (m) => chats.push(m.text));
    b.on("user-disconnected", (d) => bHeardLeave.push(d.id));
    const offsets = [];
    a.on("pong", (_d, offset) => offsets.push(offset));
    a.emit("api-ping", 1);
    await until("pong", () => offsets.length === 1);
    await join(b, "b");
    for (const text of ["before-1", "before-2"]) {
      await b.timeout(5000).emitWithAck("chat-message", { roomId: ROOM, text });
    }
    await join(a, "a");
    await b.timeout(5000).emitWithAck("chat-message", { roomId: ROOM, text: "joined" });
    await until("A hears joined", () => chats.includes("joined"));
    const logId = offsets[0].slice(0, offsets[0].lastIndexOf("-"));
    out({ step: "cut", aId, offsets, logId });
    await nextLine();
    await until("A to notice the cut", () => !a.connected);
    await b.timeout(5000).emitWithAck("chat-message", { roomId: ROOM, text: "gap" });
    // The forger: socket.io-client sends {pid, offset: _lastOffset}
    // (none: no offset at all, JSON leaves undefined out; number: 42).
    a._lastOffset = { first: logId + "-1", own: offsets[0],
                      huge: "f".repeat(100000), none: undefined,
                      number: 42 }[process.env.FORGE];
    const forged = String(a._lastOffset);
    out({ step: "gap" });
    await nextLine();
    await until("A back", () => a.connected);
    await sleep(500); // room for a replay to arrive
    out({ step: "done", aId, forged: forged.slice(0, 100), offsets, aIdAfter: a.id, recovered: a.recovered, chats, bHeardLeave });
  } else {
    out({ step: "cut", aId });
    await nextLine();
    await until("A to notice the cut", () => !a.connected);
    await until("B hears A reconnecting", () => heard("b", "user-reconnecting", aId) === 1);
    const held = await b.timeout(5000).emitWithAck("api-members", ROOM);
    const c = client(process.env.DIRECT_URL, "c");
    await until("C connected", () => c.connected);
    await join(c, "c");
    out({ step: "gap" });
    await nextLine();
    await until("A back", () => a.connected && a.recovered);
    await until("B hears A back", () => heard("b", "user-reconnected", aId) === 1);
    await sleep(300); // room for repeats to show up
    const back = await b.timeout(5000).emitWithAck("api-members", ROOM);
    out({ step: "done", aId, log, held, back, recovered: a.recovered, aIdAfter: a.id });
  }
} catch (e) {
  out({ step: "error", error: String(e), log });
} finally {
  for (const s of sockets) s.close();
  setTimeout(() => process.exit(0), 100);
}
