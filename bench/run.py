"""The benchmark: this server against the Node anchor and a naive
python-socketio relay, in one run on one machine, reported as ratios.

    python bench/run.py                 # everything, about 4 minutes
    python bench/run.py --quick         # smaller loads, one mode
    python bench/run.py --modes eventlet gevent --repeat 3

It copies the Node reference tools (../shared/bench, or RTCIO_BENCH_REF) to
a temporary folder, with the project's node_modules (``npm ci`` installs
socket.io 4.8 and @socket.io/redis-adapter from package.json; without them
it ``npm install``s there), adds this folder's load generators, then for every server (Node, RTCIO and the naive relay in
each serving mode) measures:

- relay throughput: 50 pairs each relaying SDP-sized envelopes (loadgen.mjs)
- unloaded join -> #rtcio:init-offer latency (step.mjs) and envelope round
  trip and websocket connect (latency.mjs)
- connect-and-join storm: many pairs connecting and joining at once
  (storm.mjs)
- memory per idle connected socket: server RSS with N idle sockets minus
  RSS before, over N (idle.mjs)

and, scaled out on a private redis-server (``--no-redis`` skips it), RTCIO
with a message queue under gunicorn -k eventlet and -k gevent (those of
``--modes``) against Node with @socket.io/redis-adapter on the same Redis:
one process, and two processes with every pair split across them
(split_loadgen.mjs for both servers, not the shared loadgen.mjs, which
races a Redis-backed fleet: B's join may be known before A's; relay
throughput, p50/p99 latency under that load, envelopes lost, refused or
out of order).

Prints a table, writes bench/results/latest.json, and a plot
(bench/results/bench.png with matplotlib, the ``bench`` extra; an SVG
always). Numbers on a shared machine are noisy; ratios within one run are
what counts.
"""

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
MODES = ("eventlet", "gevent", "threading")

TARGETS = {
    "relay_vs_naive": 1.5,   # throughput ratio, at least
    "relay_vs_node": 1.0,    # throughput ratio, at least
    "join_ms": 2.0,          # join -> init-offer, at most, every mode
    "storm_vs_node": 1.2,    # storm time ratio, at most (issue 11)
    "idle_kib": 15.0,        # KiB per idle socket, at most (issue 11)
    "redis_vs_node": 1.0,    # on Redis, vs Node + redis-adapter (issue 20)
}
#: Targets met by staying at or under them (the rest: at or over).
AT_MOST = ("join_ms", "storm_vs_node", "idle_kib")


# -- set-up -------------------------------------------------------------------

def find_reference():
    candidates = [os.environ.get("RTCIO_BENCH_REF"),
                  ROOT.parent / "shared" / "bench", "/work/shared/bench"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "node_ref_server.mjs").exists():
            return Path(candidate)
    sys.exit("bench: cannot find the Node reference (shared/bench with "
             "node_ref_server.mjs); set RTCIO_BENCH_REF to its folder.")


def prepare(workdir):
    """Copy the reference and our generators into ``workdir``; npm install."""
    ref = find_reference()
    shutil.copytree(ref, workdir, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("node_modules"))
    for script in HERE.glob("*.mjs"):
        shutil.copy(script, workdir / script.name)
    installed = ROOT / "node_modules"
    if all((installed / name).is_dir() for name in (
            "socket.io", "socket.io-client", "@socket.io/redis-adapter",
            "redis")):
        # The project's package.json pins the reference's packages: what
        # `npm ci` installed serves, without the network.
        (workdir / "node_modules").symlink_to(installed)
        return ref
    subprocess.run(["npm", "install", "--no-audit", "--no-fund",
                    "--loglevel=error"], cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL)
    return ref


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_kib(pid):
    """Resident memory of ``pid`` in KiB, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Server:
    """One server under test, in its own process group."""

    def __init__(self, name, argv, cwd, env=None, worker=False):
        self.name = name
        # gunicorn: measure its one worker process, not the arbiter.
        self.worker = worker
        self.port = free_port()
        self.argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.cwd = cwd
        self.env = dict(os.environ, PORT=str(self.port),
                        PYTHONPATH=str(ROOT), **(env or {}))
        self.log = tempfile.TemporaryFile()
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self):
        """The process serving requests (gunicorn's worker, if any)."""
        if not self.worker:
            return self.proc.pid
        path = f"/proc/{self.proc.pid}/task/{self.proc.pid}/children"
        children = open(path).read().split()
        return int(children[0]) if children else self.proc.pid

    def __enter__(self):
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not listen in 30 s")

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def node_json(workdir, script, url, timeout=180, **env):
    """Run one load generator; return its last JSON line."""
    out = subprocess.run(["node", script], cwd=workdir, timeout=timeout,
                         env=dict(os.environ, URL=url,
                                  **{k: str(v) for k, v in env.items()}),
                         capture_output=True, text=True)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{script} failed ({out.returncode}): "
                           f"{out.stderr[-1500:]}")
    return json.loads(lines[-1])


def cpu_seconds(pid):
    """User + system CPU time of ``pid`` (and its threads) in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_memory(workdir, server, count):
    """KiB of server RSS per idle connected socket."""
    time.sleep(0.5)
    before = rss_kib(server.pid)
    proc = subprocess.Popen(["node", "idle.mjs"], cwd=workdir,
                            env=dict(os.environ, URL=server.url, N=str(count)),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"idle.mjs: {line!r}")
        time.sleep(2.0)  # let the server settle (buffers, GC)
        after = rss_kib(server.pid)
    finally:
        proc.stdin.close()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return round((after - before) / count, 2), after


# -- measuring ------------------------------------------------------------------

def measure(workdir, server, loads, repeat):
    result = {}
    # Warm-up: imports, first-connection paths, JIT for Node.
    node_json(workdir, "rtt.mjs", server.url, N=5)
    lat = node_json(workdir, "rtt.mjs", server.url, N=loads["latency_n"])
    result["connect_ms"] = lat["connect_ms_p50"]
    result["rtt_ms"] = lat["relay_rtt_ms_p50"]
    joins = []
    for _ in range(3):  # each is a mean of 20 joins; one stall skews it
        step = subprocess.run(["node", "step.mjs"], cwd=workdir,
                              timeout=120,
                              env=dict(os.environ, URL=server.url),
                              capture_output=True, text=True, check=True)
        joins.append(json.loads(step.stdout.strip().splitlines()[-1])[
            "offer"])
    result["join_ms"] = statistics.median(joins)
    runs = []
    cpu = []
    for _ in range(repeat):
        before = cpu_seconds(server.pid)
        runs.append(node_json(workdir, "loadgen.mjs", server.url,
                              PAIRS=loads["pairs"], MSGS=loads["msgs"]))
        # Includes the run's connects and joins (a small, equal share for
        # every server): per-message server CPU, robust to a busy machine.
        cpu.append((cpu_seconds(server.pid) - before) /
                   runs[-1]["received"] * 1e6)
    result["cpu_us_per_msg"] = round(statistics.median(cpu), 1)
    best = max(runs, key=lambda r: r["msgs_per_s"])
    result["msgs_per_s"] = round(statistics.median(
        r["msgs_per_s"] for r in runs))
    result["lost"] = sum(r["msgs"] - r["received"] for r in runs)
    result["p50_ms"] = best["p50_ms"]
    result["p99_ms"] = best["p99_ms"]
    storms = [node_json(workdir, "storm.mjs", server.url,
                        PAIRS=loads["storm_pairs"])["storm_ms"]
              for _ in range(repeat)]
    result["storm_ms"] = round(statistics.median(storms), 1)
    result["idle_kib"], result["rss_kib"] = idle_memory(
        workdir, server, loads["idle"])
    return result


def servers(workdir, modes, include_naive=True, gunicorn=True,
            ceiling=True):
    py = sys.executable
    yield "node", Server("node", ["node", "node_ref_server.mjs"], workdir)
    for mode in modes:
        yield f"rtcio-{mode}", Server(
            f"rtcio-{mode}", [py, "-m", "bench.serve", "rtcio", "--mode",
                              mode, "--port", "{port}"], ROOT)
        if gunicorn and mode in ("eventlet", "gevent"):
            yield f"rtcio-gunicorn-{mode}", Server(
                f"rtcio-gunicorn-{mode}",
                [py, "-m", "gunicorn", "-k", mode, "-w", "1",
                 "--worker-connections", "10000", "--backlog", "2048",
                 "-b", "127.0.0.1:{port}", "--log-level", "warning",
                 "bench.wsgi:app"], ROOT, env={"BENCH_MODE": mode},
                worker=True)
        if ceiling and mode in ("eventlet", "gevent"):
            yield f"ceiling-{mode}", Server(
                f"ceiling-{mode}", [py, "-m", "bench.ceiling", "--mode",
                                    mode, "--port", "{port}"], ROOT)
        if include_naive:
            yield f"naive-{mode}", Server(
                f"naive-{mode}", [py, "-m", "bench.serve", "naive", "--mode",
                                  mode, "--port", "{port}"], ROOT)


# -- scaled out on Redis ----------------------------------------------------------

class RedisServer:
    """A private redis-server on a free port, for the queue rows."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="rtcio-bench-redis-")
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self):
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (Debian: "
                               "apt-get install redis-server)")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("redis-server did not listen in 10 s")

    def flush(self):
        """Every row starts from an empty Redis (no rooms, log or keys
        left by the previous one)."""
        import redis
        redis.Redis.from_url(self.url).flushall()

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def queue_servers(workdir, redis_url, processes, modes=("eventlet",)):
    """``(name, [Server, ...])`` for the rows on Redis: the Node anchor with
    @socket.io/redis-adapter and RTCIO with ``message_queue`` under gunicorn
    -k eventlet and/or -k gevent (one worker each, as the issue's
    deployment), ``processes`` of each."""
    py = sys.executable
    suffix = "" if processes == 1 else f" x{processes}"
    groups = [(f"node-redis{suffix}",
               [Server(f"node-redis-{i}", ["node", "node_ref_redis.mjs"],
                       workdir, env={"REDIS_URL": redis_url})
                for i in range(processes)])]
    for mode in modes:
        groups.append((f"rtcio-redis-gunicorn-{mode}{suffix}", [
            Server(f"rtcio-redis-{mode}-{i}",
                   [py, "-m", "gunicorn", "-k", mode, "-w", "1",
                    "--worker-connections", "10000", "--backlog", "2048",
                    "-b", "127.0.0.1:{port}", "--log-level", "warning",
                    "bench.wsgi:app"], ROOT,
                   env={"BENCH_MODE": mode,
                        "RTCIO_MESSAGE_QUEUE": redis_url}, worker=True)
            for i in range(processes)]))
    return groups


def measure_queue(workdir, group, loads, repeat):
    """The relay load over every process of ``group`` (pairs split across
    them): median msgs/s, the best run's p50/p99, CPU per envelope summed
    over the processes, envelopes lost, refusals counted by the client."""
    urls = ",".join(server.url for server in group)
    # Warm-up: first connections, imports, the Redis connections.
    node_json(workdir, "split_loadgen.mjs", urls, URLS=urls, PAIRS=5,
              MSGS=10, TIMEOUT_MS=30000)
    runs, cpu = [], []
    for _ in range(repeat):
        before = sum(cpu_seconds(server.pid) for server in group)
        runs.append(node_json(workdir, "split_loadgen.mjs", urls, URLS=urls,
                              PAIRS=loads["pairs"], MSGS=loads["msgs"],
                              TIMEOUT_MS=60000))
        spent = sum(cpu_seconds(server.pid) for server in group) - before
        cpu.append(spent / max(runs[-1]["received"], 1) * 1e6)
    best = max(runs, key=lambda r: r["msgs_per_s"])
    return {
        "processes": len(group),
        "msgs_per_s": round(statistics.median(r["msgs_per_s"] for r in runs)),
        "p50_ms": best["p50_ms"], "p99_ms": best["p99_ms"],
        "cpu_us_per_msg": round(statistics.median(cpu), 1),
        "lost": sum(r["msgs"] - r["received"] for r in runs),
        "refused": sum(r["refused"] + r["join_errors"] for r in runs),
        # Envelopes from one sender to one target delivered out of the
        # order sent, or twice (WebRTC needs the offer before its ICE
        # candidates): 0 expected from every server.
        "out_of_order": sum(r["out_of_order"] for r in runs),
        "duplicates": sum(r["duplicates"] for r in runs),
        "connect_ms": best["connect_ms"],
    }


def run_queue_rows(workdir, loads, repeat, modes=("eventlet",)):
    results = {}
    with RedisServer() as redis_server:
        for processes in (1, 2):
            for name, group in queue_servers(workdir, redis_server.url,
                                             processes, modes):
                redis_server.flush()
                started = time.monotonic()
                try:
                    with contextlib.ExitStack() as stack:
                        for server in group:
                            stack.enter_context(server)
                        results[name] = measure_queue(workdir, group, loads,
                                                      repeat)
                except Exception as exc:
                    logs = "\n".join(server.output() for server in group
                                     if server.proc is not None)
                    print(f"bench: {name} failed: {exc}\n{logs}", flush=True)
                    continue
                print(f"bench: {name} {results[name]} "
                      f"({time.monotonic() - started:.0f} s)", flush=True)
    return results


def queue_rows(queue):
    """Each RTCIO row against Node's with as many processes."""
    rows = []
    for name, ours in queue.items():
        if not name.startswith("rtcio"):
            continue
        _, sep, count = name.partition(" x")
        suffix = sep + count
        node = queue.get("node-redis" + suffix)
        row = {"server": name, "processes": ours["processes"],
               "msgs_per_s": ours["msgs_per_s"], "p50_ms": ours["p50_ms"],
               "p99_ms": ours["p99_ms"], "lost": ours["lost"],
               "refused": ours["refused"],
               "out_of_order": ours.get("out_of_order", 0)}
        if node:
            row["redis_vs_node"] = round(ours["msgs_per_s"] /
                                         max(node["msgs_per_s"], 1), 2)
            row["node_p50_ms"] = node["p50_ms"]
            row["node_p99_ms"] = node["p99_ms"]
        rows.append(row)
    return rows


def queue_table(queue):
    cols = ("server on Redis", "processes", "msgs/s", "CPU us/msg",
            "p50 ms", "p99 ms", "lost", "refused", "out of order")
    lines = ["| " + " | ".join(cols) + " |",
             "|" + "|".join("---" for _ in cols) + "|"]
    for name, r in queue.items():
        lines.append("| " + " | ".join(str(x) for x in (
            name, r["processes"], r["msgs_per_s"], r["cpu_us_per_msg"],
            r["p50_ms"], r["p99_ms"], r["lost"], r["refused"],
            r.get("out_of_order", 0))) + " |")
    lines.append("")
    rcols = ("RTCIO on Redis", "relay vs Node + redis-adapter (>=1.0)",
             "p50 / Node's", "p99 / Node's", "every envelope delivered")
    lines.append("| " + " | ".join(rcols) + " |")
    lines.append("|" + "|".join("---" for _ in rcols) + "|")
    for row in queue_rows(queue):
        ratio = row.get("redis_vs_node")
        mark = "-" if ratio is None else \
            f"{ratio} {'ok' if ratio >= TARGETS['redis_vs_node'] else 'MISS'}"
        lines.append("| " + " | ".join((
            row["server"], mark,
            f"{row['p50_ms']} / {row.get('node_p50_ms', '-')}",
            f"{row['p99_ms']} / {row.get('node_p99_ms', '-')}",
            "ok" if row["lost"] == 0 and row["refused"] == 0
            and row["out_of_order"] == 0 else
            f"MISS ({row['lost']} lost, {row['refused']} refused, "
            f"{row['out_of_order']} out of order)")) + " |")
    return "\n".join(lines)


def queue_rst(queue):
    table = [("server on Redis", "processes", "msgs/s", "CPU us/msg",
              "p50 ms", "p99 ms", "lost", "out of order")]
    for name, r in queue.items():
        table.append((name, r["processes"], r["msgs_per_s"],
                      round(r["cpu_us_per_msg"]), r["p50_ms"], r["p99_ms"],
                      r["lost"], r.get("out_of_order", 0)))
    return _rst_table(table) + "\n"


# -- reporting -----------------------------------------------------------------

def ratios(results, modes):
    node = results.get("node")
    rows = []
    variants = [(m, f"rtcio-{m}", m) for m in modes] + [
        (f"gunicorn-{m}", f"rtcio-gunicorn-{m}", m)
        for m in modes if m != "threading"] + [
        (f"ceiling-{m}", f"ceiling-{m}", m)
        for m in modes if m != "threading"]
    for mode, name, base in variants:
        ours = results.get(name)
        naive = results.get(f"naive-{base}")
        ceiling = results.get(f"ceiling-{base}")
        if not ours:
            continue
        row = {"mode": mode, "join_ms": ours["join_ms"],
               "rtt_ms": ours["rtt_ms"], "idle_kib": ours["idle_kib"]}
        if ceiling and ceiling is not ours:
            # How close RTCIO gets to a bare websocket relay on the same
            # stack (bench/ceiling.py).
            row["relay_vs_ceiling"] = round(
                ours["msgs_per_s"] / ceiling["msgs_per_s"], 2)
        if naive:
            row["relay_vs_naive"] = round(
                ours["msgs_per_s"] / naive["msgs_per_s"], 2)
            row["cpu_eff_vs_naive"] = round(
                naive["cpu_us_per_msg"] / ours["cpu_us_per_msg"], 2)
            row["naive_join_ms"] = naive["join_ms"]
        if node:
            row["relay_vs_node"] = round(
                ours["msgs_per_s"] / node["msgs_per_s"], 2)
            row["cpu_eff_vs_node"] = round(
                node["cpu_us_per_msg"] / ours["cpu_us_per_msg"], 2)
            row["storm_vs_node"] = round(ours["storm_ms"] / node["storm_ms"],
                                         2)
            row["idle_vs_node"] = round(ours["idle_kib"] /
                                        max(node["idle_kib"], 0.01), 2)
        rows.append(row)
    return rows


def verdicts(row):
    marks = {}
    for key, target in TARGETS.items():
        if key not in row:
            continue
        value = row[key]
        ok = value <= target if key in AT_MOST else value >= target
        marks[key] = "ok" if ok else "MISS"
    return marks


def table(results, rows):
    cols = ("server", "msgs/s", "CPU us/msg", "p50 ms", "p99 ms", "join ms",
            "rtt ms", "conn ms", "storm ms", "idle KiB/sock", "lost")
    lines = ["| " + " | ".join(cols) + " |",
             "|" + "|".join("---" for _ in cols) + "|"]
    for name, r in results.items():
        lines.append("| " + " | ".join(str(x) for x in (
            name, r["msgs_per_s"], r["cpu_us_per_msg"], r["p50_ms"], r["p99_ms"], r["join_ms"],
            r["rtt_ms"], r["connect_ms"], r["storm_ms"], r["idle_kib"],
            r["lost"])) + " |")
    lines.append("")
    rcols = ("mode", "relay vs naive (>=1.5)", "relay vs Node (>=1.0)",
             "relay vs ceiling",
             "CPU/msg: naive / ours", "CPU/msg: Node / ours", "join ms (<2)", "naive join ms", "storm vs Node (<=1.2)",
             "idle KiB (<=15)", "idle mem vs Node")
    lines.append("| " + " | ".join(rcols) + " |")
    lines.append("|" + "|".join("---" for _ in rcols) + "|")
    for row in rows:
        marks = verdicts(row)

        def cell(key):
            if key not in row:
                return "-"
            mark = marks.get(key)
            return f"{row[key]}" + (f" {mark}" if mark else "")
        lines.append("| " + " | ".join((
            row["mode"], cell("relay_vs_naive"), cell("relay_vs_node"),
            cell("relay_vs_ceiling"), cell("cpu_eff_vs_naive"), cell("cpu_eff_vs_node"),
            cell("join_ms"), str(row.get("naive_join_ms", "-")),
            cell("storm_vs_node"), cell("idle_kib"),
            cell("idle_vs_node"))) + " |")
    return "\n".join(lines)


def _rst_table(rows):
    widths = [max(len(str(r[i])) for r in rows) + 1
              for i in range(len(rows[0]))]
    rule = "  ".join("=" * w for w in widths)
    fmt = lambda r: "  ".join(str(c).ljust(w)  # noqa: E731
                              for c, w in zip(r, widths)).rstrip()
    return "\n".join([rule, fmt(rows[0]), rule] +
                     [fmt(r) for r in rows[1:]] + [rule])


def rst_tables(results, rows):
    """The two tables as reStructuredText, for README.rst."""
    first = [("server", "msgs/s", "CPU us/msg", "join ms", "rtt ms",
              "storm ms", "idle KiB/socket")]
    for name, r in results.items():
        first.append((name, r["msgs_per_s"], round(r["cpu_us_per_msg"]),
                      r["join_ms"], r["rtt_ms"], round(r["storm_ms"]),
                      r["idle_kib"]))
    second = [("mode", "relay vs naive (>=1.5)", "relay vs Node (>=1.0)",
               "relay vs ceiling", "CPU/msg Node/ours", "join ms (<2)",
               "storm vs Node (<=1.2)", "idle KiB (<=15)",
               "idle mem vs Node")]
    for row in rows:
        marks = verdicts(row)

        def cell(key):
            if key not in row:
                return "-"
            return f"{row[key]} {marks[key]}" if key in marks \
                else str(row[key])
        second.append((row["mode"], cell("relay_vs_naive"),
                       cell("relay_vs_node"), cell("relay_vs_ceiling"),
                       cell("cpu_eff_vs_node"),
                       cell("join_ms"), cell("storm_vs_node"),
                       cell("idle_kib"), cell("idle_vs_node")))
    return _rst_table(first) + "\n\n" + _rst_table(second) + "\n"


def _svg(results, path):
    """A bar chart per metric without any plotting library."""
    metrics = [("msgs_per_s", "relay msgs/s (higher is better)"),
               ("join_ms", "join -> init-offer ms"),
               ("storm_ms", "storm ms"), ("idle_kib", "idle KiB/socket")]
    names = list(results)
    width, bar_h = 760, 14
    block = len(names) * bar_h + 40
    height = block * len(metrics) + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" font-family="sans-serif" font-size="11">',
             f'<rect width="{width}" height="{height}" fill="white"/>']
    colours = {"node": "#4b8b3b", "rtcio": "#1f5fa8", "naive": "#b0762a",
               "ceiling": "#7a7a7a"}
    for m, (key, title) in enumerate(metrics):
        top = 20 + m * block
        parts.append(f'<text x="10" y="{top}" font-weight="bold">'
                     f'{title}</text>')
        peak = max((results[n][key] for n in names), default=1) or 1
        for i, name in enumerate(names):
            value = results[name][key]
            y = top + 8 + i * bar_h
            length = max(1, 480 * value / peak)
            colour = colours[name.split("-")[0]]
            parts.append(f'<text x="10" y="{y + 10}">{name}</text>')
            parts.append(f'<rect x="140" y="{y}" width="{length:.0f}" '
                         f'height="{bar_h - 3}" fill="{colour}"/>')
            parts.append(f'<text x="{145 + length:.0f}" y="{y + 10}">'
                         f'{value}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts))


def plot(results, out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    _svg(results, out_dir / "bench.svg")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return out_dir / "bench.svg"
    metrics = [("msgs_per_s", "relay msgs/s (higher is better)"),
               ("join_ms", "join -> init-offer, ms"),
               ("storm_ms", "connect+join storm, ms"),
               ("idle_kib", "memory per idle socket, KiB")]
    names = list(results)
    colours = ["#4b8b3b" if n == "node" else "#1f5fa8"
               if n.startswith("rtcio") else "#7a7a7a"
               if n.startswith("ceiling") else "#b0762a" for n in names]
    fig, axes = plt.subplots(2, 2, figsize=(12, 7))
    for ax, (key, title) in zip(axes.flat, metrics):
        values = [results[n][key] for n in names]
        ax.barh(names, values, color=colours)
        ax.set_title(title)
        ax.invert_yaxis()
        for i, v in enumerate(values):
            ax.text(v, i, f" {v}", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "bench.png", dpi=90)
    return out_dir / "bench.png"


def hardware():
    cpu = "unknown cpu"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    node = subprocess.run(["node", "--version"], capture_output=True,
                          text=True).stdout.strip()
    return (f"{os.cpu_count()} cores {cpu}, {mem:.0f} GiB, "
            f"{platform.system()} {platform.release()}, Python "
            f"{platform.python_version()}, Node {node}, load average "
            f"{os.getloadavg()[0]:.1f} at start")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modes", nargs="+", default=list(MODES),
                        choices=MODES)
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of the throughput and storm loads "
                             "(median reported)")
    parser.add_argument("--quick", action="store_true",
                        help="small loads (a smoke run, not for the README)")
    parser.add_argument("--no-naive", action="store_true")
    parser.add_argument("--no-ceiling", action="store_true",
                        help="skip the bare-websocket ceiling servers "
                             "(bench/ceiling.py)")
    parser.add_argument("--no-gunicorn", action="store_true",
                        help="skip the gunicorn -k eventlet/gevent variants")
    parser.add_argument("--only", nargs="+", metavar="SERVER",
                        help="only these servers, e.g. node rtcio-eventlet")
    parser.add_argument("--no-redis", action="store_true",
                        help="skip the rows scaled out on Redis")
    parser.add_argument("--redis-only", action="store_true",
                        help="only the rows scaled out on Redis")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    loads = dict(latency_n=30, pairs=50, msgs=200, storm_pairs=200,
                 idle=1000)
    if args.quick:
        loads = dict(latency_n=10, pairs=10, msgs=50, storm_pairs=50,
                     idle=200)
    env_hw = hardware()
    print(f"bench: {env_hw}", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="rtcio-bench-") as tmp:
        workdir = Path(tmp)
        ref = prepare(workdir)
        print(f"bench: Node reference from {ref}, loads {loads}", flush=True)
        for name, server in servers(workdir, args.modes,
                                    not args.no_naive,
                                    not args.no_gunicorn,
                                    not args.no_ceiling):
            if (args.only and name not in args.only) or args.redis_only:
                continue
            started = time.monotonic()
            with server:
                try:
                    results[name] = measure(workdir, server, loads,
                                            args.repeat)
                except Exception as exc:
                    print(f"bench: {name} failed: {exc}\n"
                          f"{server.output()}", flush=True)
                    continue
            print(f"bench: {name} {results[name]} "
                  f"({time.monotonic() - started:.0f} s)", flush=True)
        queue = {} if args.no_redis else run_queue_rows(
            workdir, loads, args.repeat,
            [m for m in args.modes if m != "threading"] or ["eventlet"])
    rows = ratios(results, args.modes)
    text = table(results, rows) if results else ""
    if queue:
        text += "\n\n" + queue_table(queue)
    print()
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    picture = plot(results, args.out) if results else "no plot"
    (args.out / "latest.json").write_text(json.dumps({
        "hardware": env_hw, "loads": loads, "repeat": args.repeat,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "results": results, "ratios": rows, "targets": TARGETS,
        "redis": queue, "redis_ratios": queue_rows(queue),
    }, indent=2))
    (args.out / "latest.rst").write_text(
        (rst_tables(results, rows) if results else "") +
        ("\n" + queue_rst(queue) if queue else ""))
    (args.out / "latest.md").write_text(
        f"Hardware: {env_hw}\n\nLoads: {loads}, repeat {args.repeat}\n\n"
        + text + "\n")
    print(f"\nbench: wrote {args.out / 'latest.json'}, "
          f"{args.out / 'latest.md'} and {picture}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
