// The rolling restart, measured (bench/rolling_restart.py drives it):
// N pairs, a_i on FIRST_URL and b_i on SECOND_URL, each pair in a room of
// its own. FIRST gets SIGTERM right before the harness says "go"; every
// a_i reconnects by itself (socket.io-client's default backoff) through a
// "balancer" that sends it to SECOND after a drop. While a_i is away, b_i
// relays it one envelope. Reports, per a_i: same id, recovered, the
// envelope received once, and the time from "go" to its recovery.
import { io } from "socket.io-client";
import { nextLine, out, until } from "../tests/recovery/steps.mjs";

const N = Number(process.env.PAIRS || 100);
const { FIRST_URL, SECOND_URL } = process.env;
const opts = { transports: ["websocket"], forceNew: true };
const pairs = [];
const departures = { count: 0 };
for (let i = 0; i < N; i++) {
  const a = io(FIRST_URL, opts);
  const b = io(SECOND_URL, opts);
  const p = { a, b, got: 0, back: null, ids: [] };
  a.on("connect", () => { p.ids.push(a.id); if (p.ids.length > 1) p.back = Date.now(); });
  a.on("disconnect", () => { a.io.uri = SECOND_URL; });
  a.on("#rtcio:message", (env) => { if (env.data.n === 2) p.got++; });
  b.on("user-disconnected", () => departures.count++);
  pairs.push(p);
}
let refused;
try {
  await until("all connected", () => pairs.every((p) => p.a.connected && p.b.connected), 60000);
  for (const [i, p] of pairs.entries()) {
    for (const s of [p.a, p.b]) {
      let ok = false;
      s.once("join-ok", () => { ok = true; });
      s.emit("join-room", { roomId: `roll-${i}`, name: "x" });
      await until("joined", () => ok);
    }
  }
  out({ step: "ready" });
  await nextLine();
  const t0 = Date.now();
  await until("every a to notice", () => pairs.every((p) => !p.a.connected || p.ids.length > 1), 30000);
  const noticed = Date.now() - t0;
  const acks = await Promise.all(pairs.map((p) => p.b.timeout(10000).emitWithAck(
    "#rtcio:message", { source: p.b.id, target: p.ids[0], data: { n: 2 } })));
  refused = acks.filter((a) => a && a.ok === false);
  await until("every a back", () => pairs.every((p) => p.back && p.a.connected), 120000);
  await until("every envelope", () => pairs.every((p) => p.got >= 1), 30000);
  await new Promise((r) => setTimeout(r, 500));
  const times = pairs.map((p) => p.back - t0).sort((x, y) => x - y);
  const pct = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  out({ step: "done", pairs: N, noticedMs: noticed,
    sameId: pairs.filter((p) => p.ids[1] === p.ids[0]).length,
    recovered: pairs.filter((p) => p.a.recovered).length,
    envelopesOnce: pairs.filter((p) => p.got === 1).length,
    departures: departures.count,
    backMs: { p50: pct(0.5), p95: pct(0.95), max: times[times.length - 1] } });
} catch (e) {
  out({ step: "error", error: String(e),
    back: pairs.filter((p) => p.back).length, got: pairs.filter((p) => p.got).length,
    sameId: pairs.filter((p) => p.ids[1] === p.ids[0]).length,
    recovered: pairs.filter((p) => p.a.recovered).length, refused: typeof refused === "undefined" ? null : refused.slice(0, 3) });
}
for (const p of pairs) { p.a.close(); p.b.close(); }
setTimeout(() => process.exit(0), 200);
