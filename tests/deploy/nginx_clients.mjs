// socket.io-client (node) clients for tests/deploy/test_nginx.py, driven
// over stdin, one JSON command a line; everything a client hears is
// printed as one JSON line {t, name, event, data}.
//
//   {"op": "connect", "name": "alice", "url": "https://...", "ca": "<pem>",
//    "localAddress": "127.0.1.1", "transports": ["websocket"],
//    "origin": "https://app.example", "auth": null}
//   (a namespace goes at the end of the url: "https://.../admin")
//   {"op": "emit", "name": "alice", "event": "join-room", "data": {...}}
//   {"op": "close", "name": "alice"}
//
// Each client has a connection of its own (never multiplexed onto another
// client's) bound to localAddress (so nginx's ip_hash sends it to the
// process the test expects), trusts only the test's CA,
// and, as rtc.io apps do, joins its rooms again after a reconnection.
import https from "node:https";
import readline from "node:readline";
import { io } from "socket.io-client";

const clients = new Map();
const out = (name, event, data) =>
  process.stdout.write(JSON.stringify({ t: Date.now(), name, event, data }) + "\n");

function connect(cmd) {
  const agent = new https.Agent({ ca: cmd.ca, localAddress: cmd.localAddress,
                                  keepAlive: true });
  const socket = io(cmd.url, {
    transports: cmd.transports, agent, ca: cmd.ca,
    localAddress: cmd.localAddress, origin: cmd.origin,
    extraHeaders: cmd.origin ? { Origin: cmd.origin } : {},
    reconnectionDelay: 200, reconnectionDelayMax: 500, timeout: 5000,
    forceNew: true, ...(cmd.auth ? { auth: cmd.auth } : {}),
  });
  const rooms = [];
  clients.set(cmd.name, { socket, rooms });
  socket.on("connect", () => {
    out(cmd.name, "connect", { sid: socket.id,
                               transport: socket.io.engine.transport.name });
    for (const join of rooms) socket.emit("join-room", join);
  });
  socket.on("disconnect", (reason) => out(cmd.name, "disconnect", reason));
  socket.on("connect_error", (err) => out(cmd.name, "connect_error", String(err)));
  // The payload; with connection state recovery a string offset follows.
  socket.onAny((event, ...args) => out(cmd.name, event, args[0] ?? null));
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line);
  if (cmd.op === "connect") return connect(cmd);
  const client = clients.get(cmd.name);
  if (cmd.op === "emit") {
    if (cmd.event === "join-room") client.rooms.push(cmd.data);
    client.socket.emit(cmd.event, cmd.data, (ack) => out(cmd.name, "ack:" + cmd.event, ack ?? null));
  } else if (cmd.op === "close") {
    client.socket.close();
  }
});
// Let the goodbyes (close packets) go out before exiting.
process.stdin.on("end", () => setTimeout(() => process.exit(0), 200));
