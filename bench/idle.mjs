// Idle sockets for the memory figure: connect N websocket clients (CONCURRENCY at a
// time), print "READY <n>", then hold them open until stdin closes.
import { io } from "socket.io-client";
const URL = process.env.URL || "http://127.0.0.1:3001";
const N = parseInt(process.env.N || "1000");
const CONCURRENCY = parseInt(process.env.CONCURRENCY || "50");
const connect = () => new Promise((res, rej) => {
  const s = io(URL, { transports: ["websocket"], forceNew: true, reconnection: false, timeout: 60000 });
  s.once("connect", () => res(s)); s.once("connect_error", rej);
});
const sockets = [];
for (let i = 0; i < N; i += CONCURRENCY) {
  const batch = await Promise.all(Array.from({ length: Math.min(CONCURRENCY, N - i) }, connect));
  sockets.push(...batch);
}
console.log("READY " + sockets.length);
process.stdin.resume();
process.stdin.on("end", () => { for (const s of sockets) s.close(); process.exit(0); });
setTimeout(() => process.exit(1), 300000).unref();
