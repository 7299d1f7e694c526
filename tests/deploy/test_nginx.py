"""Behind a real nginx (Debian's) terminating TLS, in front of two
processes that share a real redis-server: ``rtcio-flask``,
``gunicorn -k gevent`` and ``gunicorn -k eventlet``, with nginx's
``ip_hash`` sticky routing. nginx runs
docs/nginx/rtcio.conf, the very file docs/deployment.rst shows, and a CA
and certificate made at test time (trustme).

Clients: socket.io-client in node over wss and https polling (each bound
to a loopback address that ip_hash sends to the process the test wants),
python ``requests`` for raw handshakes, and Debian's Chromium.

- a polling handshake through nginx: the Origin reaches the process, the
  answer carries exactly one Access-Control-Allow-Origin;
- a room split over the three processes, a websocket and a polling
  client on each, joins with a password, is offered and relays from each
  client to the next (every process to every other);
- RTCIO_TRUSTED_PROXY_HOPS=1: the process names each client by the
  address nginx put in X-Forwarded-For: a room-password guesser and a
  failed admin login are throttled at their address while another address
  with the right password gets in, and the log names the guesser;
- a Chromium tab on polling closes: the room (a member on the other
  process) hears ``#rtcio:peer-left`` when nginx closes the long-poll
  upstream, long before the ping timeout (the time is printed; the
  numbers are in docs/deployment.rst);
- the Admin UI (admin on in both processes): its page, every file the
  page and its stylesheets name, and a login to its ``/admin`` namespace
  over https polling from an allowed origin, all through nginx;
- ``kill -9`` of one process: its clients reconnect through nginx to the
  other, rejoin, and relay again; the dead process's members are purged.
"""

import json
import re
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests
import trustme
from prometheus_client.parser import text_string_to_metric_families

from tests.support.chromium import CHROMIUM_ARGS, CLIENT_JS
from tests.support.gunicorn import serve_gunicorn
from tests.support.nginx import NginxProcess
from tests.support.redis_server import RedisProcess
from tests.support.servers import LiveServer

ORIGIN = "https://app.example"
#: The test page is served by Playwright as https://app.example; Chromium
#: counts it as public and would refuse its requests to 127.0.0.1 (private
#: network access) unless told otherwise, and the certificate is the
#: test CA's.
BROWSER_ARGS = [arg for arg in CHROMIUM_ARGS
                if not arg.startswith("--disable-features=")] + [
    "--ignore-certificate-errors",
    "--disable-features=WebRtcHideLocalIpsWithMdns,"
    "BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,"
    "PrivateNetworkAccessRespectPreflightResults,LocalNetworkAccessChecks"]
DRIVER = Path(__file__).with_name("nginx_clients.mjs")
ADMIN_PASSWORD = "admin-s3cret"


#: Upstreams in docs/nginx/rtcio.conf (Stack.processes, in that order).
PEERS = 3


def ip_hash_peer(address, peers=PEERS):
    """The upstream nginx's ip_hash picks first for an IPv4 address (the
    first three octets, ngx_http_upstream_ip_hash_module.c)."""
    value = 89
    for octet in address.split(".")[:3]:
        value = (value * 113 + int(octet)) % 6271
    return value % peers


_USED = set()


def address_for(peer):
    """A loopback address no test used yet (a guesser's address stays
    throttled for a minute) that ip_hash sends to upstream ``peer``."""
    for third in range(1, 250):
        address = f"127.0.{third}.1"
        if ip_hash_peer(address) == peer and address not in _USED:
            _USED.add(address)
            return address
    raise AssertionError(f"no loopback address left for peer {peer}")


def ready(process, timeout=30.0):
    """Wait for the app itself (gunicorn listens before its worker has
    loaded the app)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(process.url + "/healthz", timeout=5).ok:
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, process.log()[-3000:]
        time.sleep(0.1)


def connected(process):
    text = requests.get(process.url + "/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "rtcio_connected_sockets":
                return sample.value
    raise AssertionError(text)


class Stack:
    def __init__(self, ca, redis):
        self.ca = ca
        self.ca_pem = ca.cert_pem.bytes().decode()
        self.ca_file = ca.cert_pem.tempfile()
        self.ca_file_path = self.ca_file.__enter__()
        env = {"RTCIO_TRUSTED_PROXY_HOPS": "1",
               "RTCIO_ALLOWED_ORIGINS": ORIGIN, "RTCIO_METRICS": "1",
               "RTCIO_FLEET_INTERVAL": "1", "RTCIO_MESSAGE_QUEUE": redis.url,
               "RTCIO_HEALTH_PATH": "/healthz",
               "RTCIO_ADMIN_USERNAME": "admin",
               "RTCIO_ADMIN_PASSWORD": ADMIN_PASSWORD}
        self.standalone = LiveServer(
            [sys.executable, "-m", "rtcio_flask", "--port", "{port}",
             "--allowed-origins", ORIGIN], env=env)
        self.gevent, self.eventlet = (
            serve_gunicorn("tests.apps.deploy_app:create_app()", worker,
                           env=env) for worker in ("gevent", "eventlet"))
        #: Upstream order in the nginx configuration.
        self.processes = [self.standalone, self.gevent, self.eventlet]
        assert len(self.processes) == PEERS
        self.nginx = NginxProcess([p.port for p in self.processes], ca)

    def start(self):
        for process in self.processes:
            process.start()
            ready(process)
        self.nginx.start()
        return self

    def stop(self):
        self.nginx.stop()
        for process in self.processes:
            process.stop()
        self.ca_file.__exit__(None, None, None)

    @property
    def url(self):
        return self.nginx.url


@pytest.fixture(scope="module")
def stack():
    redis = RedisProcess().start()
    built = Stack(trustme.CA(), redis)
    try:
        yield built.start()
    finally:
        built.stop()
        redis.remove()


class Clients:
    """socket.io-client in node (nginx_clients.mjs): commands in, every
    event a client hears out, as JSON lines."""

    def __init__(self, stack):
        self.stack = stack
        self.errors = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            ["node", str(DRIVER)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.errors, text=True,
            cwd=Path(__file__).resolve().parents[2])
        self.heard = []
        self._new = queue.Queue()
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            event = json.loads(line)
            with self._lock:
                self.heard.append(event)
            self._new.put(event)

    def send(self, **command):
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def connect(self, name, address, transports, origin=ORIGIN,
                namespace="/", auth=None, expect="connect"):
        """A new client (its own connection); the data of its first
        ``expect`` event (its sid on "connect")."""
        self.send(op="connect", name=name, url=self.stack.url + namespace,
                  ca=self.stack.ca_pem, localAddress=address,
                  transports=list(transports), origin=origin, auth=auth)
        data = self.wait(name, expect)["data"]
        return data["sid"] if expect == "connect" else data

    def emit(self, name, event, data):
        self.send(op="emit", name=name, event=event, data=data)

    def wait(self, name, event, match=lambda data: True, timeout=20.0,
             after=0):
        """The first event ``event`` heard by ``name`` (from index
        ``after`` of everything heard) for which ``match(data)``."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                for heard in self.heard[after:]:
                    if heard["name"] == name and heard["event"] == event \
                            and match(heard["data"]):
                        return heard
            left = deadline - time.monotonic()
            if left <= 0:
                heard = [(h["name"], h["event"], h["data"])
                         for h in self.heard]
                raise AssertionError(f"{name} never heard {event!r}; heard "
                                     f"{heard}; node said: {self._errors()}")
            try:
                self._new.get(timeout=min(left, 0.5))
            except queue.Empty:
                pass

    def _errors(self):
        self.errors.seek(0)
        return self.errors.read()[-3000:]

    def mark(self):
        with self._lock:
            return len(self.heard)

    def close(self):
        """Every client says goodbye (so no session lingers on a process
        until its ping timeout), then node exits."""
        for name in {heard["name"] for heard in self.heard}:
            self.send(op="close", name=name)
        self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.errors.close()


@pytest.fixture
def clients(stack):
    driver = Clients(stack)
    try:
        yield driver
    finally:
        driver.close()


def join(clients, name, room, password=None):
    data = {"roomId": room, "name": name}
    if password:
        data["password"] = password
    clients.emit(name, "join-room", data)
    clients.wait(name, "join-ok", lambda d: d["roomId"] == room)


def test_polling_handshake_through_nginx_has_one_acao(stack):
    url = stack.url + "/socket.io/?EIO=4&transport=polling"
    answer = requests.get(url, headers={"Origin": ORIGIN},
                          verify=stack.ca_file_path, timeout=5)
    assert answer.status_code == 200, answer.text
    assert answer.raw.headers.getlist("Access-Control-Allow-Origin") == \
        [ORIGIN]
    assert answer.text.startswith("0{")
    # Close the session (an Engine.IO close packet), as a client would.
    sid = json.loads(answer.text[1:])["sid"]
    assert requests.post(url + "&sid=" + sid, data="1",
                         headers={"Origin": ORIGIN},
                         verify=stack.ca_file_path, timeout=5).ok
    # The Origin reached the process: another one is refused there.
    refused = requests.get(url, headers={"Origin": "https://evil.example"},
                           verify=stack.ca_file_path, timeout=5)
    assert refused.status_code == 400
    assert "Access-Control-Allow-Origin" not in refused.headers
    health = requests.get(stack.url + "/healthz", verify=stack.ca_file_path,
                          timeout=5)
    assert health.json() == {"status": "ok"}


def test_room_over_three_processes_joins_and_relays(stack, clients):
    """A websocket and a polling client on each process, one password
    room; each client relays to the next, which is on another process."""
    before = [connected(p) for p in stack.processes]
    names, sids = [], {}
    for i, transport in enumerate(["websocket", "polling"] * PEERS):
        name = f"{transport}-{i % PEERS}"
        sids[name] = clients.connect(name, address_for(i % PEERS),
                                     [transport])
        names.append(name)
    assert [connected(p) - n for p, n in zip(stack.processes, before)] \
        == [2] * PEERS
    for name in names:
        join(clients, name, "split", "s3cret")
    # Presence across processes: the first member heard every other join.
    first = names[0]
    for name in names[1:]:
        clients.wait(first, "user-connected",
                     lambda d, sid=sids[name]: d["id"] == sid)
    # The last to join is offered to the first (on another process).
    clients.wait(first, "#rtcio:init-offer",
                 lambda d: d["source"] == sids[names[-1]])
    for i, name in enumerate(names):
        target = names[(i + 1) % len(names)]
        clients.emit(name, "#rtcio:message",
                     {"target": sids[target], "data": {"hop": i}})
        got = clients.wait(target, "#rtcio:message",
                           lambda d, i=i: d["data"] == {"hop": i})["data"]
        assert got["source"] == sids[name]


def test_a_guesser_behind_nginx_never_refuses_another_address(stack, clients):
    """RTCIO_TRUSTED_PROXY_HOPS=1: the password throttle counts the
    address nginx saw, not nginx's own."""
    mallory_at = address_for(1)
    clients.connect("owner", address_for(0), ["websocket"])
    join(clients, "owner", "vault", "s3cret")
    # Two sockets (each may send 5), one address (which may send 10).
    for name in ("mallory", "mallet"):
        clients.connect(name, mallory_at, ["websocket"])
        for i in range(6):
            clients.emit(name, "check-room",
                         {"roomId": "vault", "password": f"guess{i}"})
        clients.wait(name, "join-error",
                     lambda d: d["reason"] == "too-many-attempts")
    # Same process, another address, the right password: straight in.
    clients.connect("member", address_for(1), ["polling"])
    join(clients, "member", "vault", "s3cret")
    log = stack.processes[1].log_with("too many wrong room passwords")
    assert f"too many wrong room passwords for address '{mallory_at}'" \
        in log, log[-3000:]


def test_failed_admin_logins_behind_nginx_throttle_only_their_address(
        stack, clients):
    """The admin login throttle and its log line use the address nginx
    saw: five failed logins from one address refuse that address (the
    right password too) while another address on the same process logs
    in; before, every login came from nginx's own address."""
    peer = 2
    attacker, admin = address_for(peer), address_for(peer)
    good = {"username": "admin", "password": ADMIN_PASSWORD}
    for i in range(5):
        refusal = clients.connect(f"guess{i}", attacker, ["websocket"],
                                  namespace="/admin", expect="connect_error",
                                  auth={"username": "admin", "password": i})
        assert refusal == "Error: invalid credentials", refusal
    refusal = clients.connect("late", attacker, ["websocket"],
                              namespace="/admin", auth=good,
                              expect="connect_error")
    assert refusal.startswith("Error: too many failed logins"), refusal
    clients.connect("ops", admin, ["polling"], namespace="/admin", auth=good)
    # gunicorn logs the app's WARNINGs only (no logging configured).
    log = stack.processes[peer].log_with("further logins from that address")
    refused = [line for line in log.splitlines()
               if "admin login refused for user 'admin'" in line]
    assert len(refused) == 5 and all(
        line.endswith(f"from '{attacker}'") for line in refused[:4]), refused
    assert f"from '{attacker}'; further logins from that address are " \
        "refused" in refused[4], refused


@pytest.fixture(scope="module")
def chromium_args():
    """The suite's browser, trusting the test CA's certificate and
    allowed to reach this private address."""
    return BROWSER_ARGS


def test_polling_tab_closing_is_heard_through_nginx(stack, clients,
                                                    browser):
    # Chromium's connections come from 127.0.0.1; the listening member is
    # on the other process.
    tab_peer = ip_hash_peer("127.0.0.1")
    carol = clients.connect("carol", address_for((tab_peer + 1) % PEERS),
                            ["polling"])
    join(clients, "carol", "tabs")
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.route(ORIGIN + "/", lambda route: route.fulfill(
        status=200, content_type="text/html",
        body="<!doctype html><title>tab</title>"))
    page.goto(ORIGIN + "/")
    page.add_script_tag(path=str(CLIENT_JS))
    tab_sid = page.evaluate("""url => new Promise((resolve, reject) => {
        const socket = io(url, {transports: ["polling"]});
        socket.on("connect_error", e => reject(String(e)));
        socket.on("connect", () => socket.emit(
            "join-room", {roomId: "tabs", name: "tab"}));
        socket.on("join-ok", () => resolve(socket.id));
    })""", stack.url)
    clients.wait("carol", "user-connected", lambda d: d["id"] == tab_sid)
    mark = clients.mark()
    # Give the tab's next long-poll time to be waiting in nginx.
    time.sleep(0.3)
    closed_at = time.time() * 1000
    page.close()
    # The rtc.io departure; user-disconnected follows when the
    # recovery window (120 s) ends, user-reconnecting comes now.
    heard = clients.wait("carol", "#rtcio:peer-left",
                         lambda d: d["id"] == tab_sid, timeout=30,
                         after=mark)
    context.close()
    elapsed = heard["t"] - closed_at
    print(f"nginx: a polling tab's departure reached the room on the other "
          f"process {elapsed:.0f} ms after the tab closed")


def test_admin_ui_page_assets_and_namespace_through_nginx(stack):
    """docs/nginx/rtcio.conf's ``location /admin/``: the page, what it
    loads (scripts, stylesheets, icons, the font its icon stylesheet
    names, the script that fills the login form) and the admin namespace
    on /socket.io/, as the page's browser would ask for them."""
    def get(path, **kwargs):
        return requests.get(stack.url + path, verify=stack.ca_file_path,
                            timeout=10, **kwargs)

    bare = get("/admin", allow_redirects=False)
    assert bare.status_code in (301, 308), bare.status_code
    assert bare.headers["Location"].endswith("/admin/")
    page = get("/admin/")
    assert page.status_code == 200, page.text[:500]
    assert "<title>Socket.IO Admin UI</title>" in page.text
    names = re.findall(r'(?:href|src)="([^"]+)"', page.text)
    assert len(names) >= 6, names
    for name in list(names):
        answer = get("/admin/" + name)
        assert answer.status_code == 200 and answer.content, name
        if name.endswith(".css"):
            folder = name.rpartition("/")[0]
            names += [f"{folder}/{url}".lstrip("/") for url in
                      re.findall(r'url\("?([^")?#]+)', answer.text)
                      if not url.startswith("data:")]
    assert any(name.endswith(".woff2") for name in names), names
    for name in names:
        assert get("/admin/" + name).status_code == 200, name
    config = get("/admin/rtcio-admin-config.js").text
    assert '"path": "/socket.io"' in config and '"namespace": "/admin"' \
        in config, config
    # The page's socket: a polling session from the page's own origin
    # (every request from 127.0.0.1 goes to one process: ip_hash). The
    # processes allow only ORIGIN; the server's own origin, as nginx
    # passes it on (Host, X-Forwarded-Proto), may still open /admin, and
    # nothing else (docs/admin.rst).
    def session(origin):
        url = stack.url + "/socket.io/?EIO=4&transport=polling"
        headers = {"Origin": origin}
        opened = requests.get(url, headers=headers,
                              verify=stack.ca_file_path, timeout=10)
        assert opened.status_code == 200, opened.text
        url += "&sid=" + json.loads(opened.text[1:])["sid"]

        def exchange(packet):
            assert requests.post(url, data=packet, headers=headers,
                                 verify=stack.ca_file_path, timeout=10).ok
            return requests.get(url, headers=headers,
                                verify=stack.ca_file_path,
                                timeout=10).text.split("\x1e")[0]
        return exchange

    login = json.dumps({"username": "admin", "password": ADMIN_PASSWORD})
    page = session(stack.url)
    answer = page("40/admin," + login)
    assert answer.startswith('40/admin,{"sid"'), answer
    refused = page("40")
    assert refused.startswith("44{") and "origin-not-allowed" in refused, \
        refused
    answer = session(ORIGIN)("40/admin," + login)
    assert answer.startswith('40/admin,{"sid"'), answer
