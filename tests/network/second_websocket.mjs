// socket.io's protocol suite, "should ignore WebSocket connection with
// same sid after upgrade", with the same client (the ws package): a polling
// session upgrades, a second websocket for it must see "close" (a refused
// handshake would be an "error" event), and the first one still works (a
// socket.io CONNECT gets its reply).
import WebSocket from "ws";

const URL = process.env.URL;
const WS_URL = URL.replace("http", "ws");
const waitFor = (socket, event) => new Promise((resolve, reject) => {
  socket.once(event, (...args) => resolve(args));
  if (event !== "error") socket.once("error", (e) => reject(new Error("error event: " + e.message)));
});
const timeout = setTimeout(() => { console.log(JSON.stringify({ ok: false, error: "timeout" })); process.exit(1); }, 15000);

try {
  const res = await fetch(`${URL}/socket.io/?EIO=4&transport=polling`);
  const sid = JSON.parse((await res.text()).slice(1)).sid;
  const socket = new WebSocket(`${WS_URL}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
  await waitFor(socket, "open");
  socket.send("2probe");
  const [probe] = await waitFor(socket, "message");
  socket.send("5");
  const socket2 = new WebSocket(`${WS_URL}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
  const [code] = await waitFor(socket2, "close");
  socket.send("40");
  let data;
  do { [data] = await waitFor(socket, "message"); } while (["2", "6"].includes(String(data)));
  console.log(JSON.stringify({ ok: true, probe: String(probe), code, reply: String(data).slice(0, 8) }));
  socket.close();
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String(e) }));
} finally {
  clearTimeout(timeout);
}
