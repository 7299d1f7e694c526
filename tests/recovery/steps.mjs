// What the Node clients of tests/recovery share: the harness drives them
// one JSON line at a time over stdin/stdout, and they poll for conditions.
import readline from "node:readline";

export const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const rl = readline.createInterface({ input: process.stdin });
const queue = []; let waiter = null;
rl.on("line", (l) => { if (waiter) { const w = waiter; waiter = null; w(l); } else queue.push(l); });
export const nextLine = () => queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => { waiter = r; });
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export async function until(what, check, ms = 15000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timeout waiting for " + what);
    await sleep(20);
  }
}
// Reconnect fast, as a test needs (the delays are socket.io-client's).
export const fastOptions = (transports) => ({
  transports, reconnectionDelay: 200, reconnectionDelayMax: 400,
  randomizationFactor: 0, timeout: 5000, forceNew: true });
