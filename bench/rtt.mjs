// Unloaded latencies, like latency.mjs but with both clients in one room first (a server
// whose relay stays inside rooms, the secure default of rtcio-flask, needs that):
// median websocket connect, and median envelope round trip A -> server -> B -> server -> A.
import { io } from "socket.io-client";
const URL = process.env.URL || "http://127.0.0.1:3001";
const N = parseInt(process.env.N || "50");
const connect = () => new Promise((res, rej) => {
  const t = performance.now();
  const s = io(URL, { transports: ["websocket"], forceNew: true, reconnection: false });
  s.once("connect", () => res([s, performance.now() - t])); s.once("connect_error", rej);
});
const med = (a) => { a = [...a].sort((x, y) => x - y); return +a[Math.floor(a.length / 2)].toFixed(2); };
const ct = [];
for (let i = 0; i < N; i++) { const [s, t] = await connect(); ct.push(t); s.close(); }
const [[a], [b]] = [await connect(), await connect()];
const room = "rtt-" + Math.random();
const offered = new Promise((res) => a.once("#rtcio:init-offer", res));
a.emit("join-room", { roomId: room, name: "a" });
await new Promise((r) => setTimeout(r, 100));
b.emit("join-room", { roomId: room, name: "b" });
await offered;
b.on("#rtcio:message", (p) => b.emit("#rtcio:message", { source: b.id, target: a.id, data: p.data }));
const rtt = [];
for (let i = 0; i < N; i++) {
  const t = performance.now();
  await new Promise((res) => { a.once("#rtcio:message", res); a.emit("#rtcio:message", { source: a.id, target: b.id, data: { candidate: { candidate: "candidate:1 1 udp 1 1.2.3.4 5 typ host", sdpMid: "0" } } }); });
  rtt.push(performance.now() - t);
}
console.log(JSON.stringify({ url: URL, connect_ms_p50: med(ct), relay_rtt_ms_p50: med(rtt) }));
process.exit(0);
