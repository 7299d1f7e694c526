// A socket held for recovery while every Redis connection of its process
// has gone silent (test_silent_redis_hold.py): A goes through the cutting
// proxy (PROXY_URL), B straight to the server (DIRECT_URL), same room. The
// harness freezes Redis and cuts A, then says "go"; B must hear the whole
// hold: the #rtcio:peer-left hint, then user-reconnecting (each emitted
// through the message queue by the greenlet that holds A).
import { io } from "socket.io-client";
import { fastOptions, nextLine, out, until } from "./steps.mjs";

const opts = { ...fastOptions(["websocket"]), reconnection: false };
const ROOM = process.env.ROOM;
const a = io(process.env.PROXY_URL, opts);
const b = io(process.env.DIRECT_URL, opts);
const heard = [];
for (const ev of ["#rtcio:peer-left", "user-reconnecting", "user-disconnected"]) {
  b.on(ev, () => heard.push(ev));
}
async function join(s, name) {
  let ok = false;
  s.once("join-ok", () => { ok = true; });
  s.emit("join-room", { roomId: ROOM, name });
  await until(name + " joined", () => ok);
}
try {
  await until("connected", () => a.connected && b.connected);
  await join(a, "a");
  await join(b, "b");
  out({ step: "joined", aId: a.id });
  await nextLine();
  try {
    await until("B hears A held", () => heard.includes("user-reconnecting"),
                Number(process.env.BOUND_MS || 60000));
  } catch (e) { /* reported below: what B heard */ }
  out({ step: "done", heard });
} catch (e) {
  out({ step: "error", error: String(e) });
}
process.exit(0);
