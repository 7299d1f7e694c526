// Connect-and-join storm: PAIRS pairs connect at once; each pair joins one room and
// the storm ends when every first member got its #rtcio:init-offer. One JSON line.
import { io } from "socket.io-client";
const URL = process.env.URL || "http://127.0.0.1:3001";
const PAIRS = parseInt(process.env.PAIRS || "200");
const connect = () => new Promise((res, rej) => {
  const s = io(URL, { transports: ["websocket"], forceNew: true, reconnection: false, timeout: 60000 });
  s.once("connect", () => res(s)); s.once("connect_error", rej);
});
async function pair(i) {
  // Both join at once: whichever the server sees second triggers the
  // init-offer to the other.
  const [a, b] = await Promise.all([connect(), connect()]);
  const offered = new Promise((res) => {
    a.once("#rtcio:init-offer", (p) => res([a, b, p]));
    b.once("#rtcio:init-offer", (p) => res([b, a, p]));
  });
  a.emit("join-room", { roomId: "storm-" + i, name: "a" });
  b.emit("join-room", { roomId: "storm-" + i, name: "b" });
  const [, other, { source }] = await offered;
  if (source !== other.id) throw new Error("init-offer from the wrong source");
  return [a, b];
}
const t0 = performance.now();
const timeout = new Promise((_, rej) => setTimeout(() => rej(new Error("storm timed out")), 120000));
const all = await Promise.race([Promise.all(Array.from({ length: PAIRS }, (_, i) => pair(i))), timeout]);
const ms = performance.now() - t0;
console.log(JSON.stringify({ url: URL, clients: PAIRS * 2, storm_ms: +ms.toFixed(1) }));
for (const [a, b] of all) { a.close(); b.close(); }
process.exit(0);
