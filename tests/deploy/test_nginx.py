"""Behind a real nginx (Debian's) terminating TLS, in front of two
processes that share a real redis-server: ``rtcio-flask`` and
``gunicorn -k gevent``, with nginx's ``ip_hash`` sticky routing. nginx runs
docs/nginx/rtcio.conf, the very file docs/deployment.rst shows, and a CA
and certificate made at test time (trustme).

Clients: socket.io-client in node over wss and https polling (each bound
to a loopback address that ip_hash sends to the process the test wants),
python ``requests`` for raw handshakes, and Debian's Chromium.

- a polling handshake through nginx: the Origin reaches the process, the
  answer carries exactly one Access-Control-Allow-Origin;
- a pair split over the two processes joins a password room, is offered
  and relays both ways; the process names each client by the address
  nginx put in X-Forwarded-For (RTCIO_TRUSTED_PROXY_HOPS=1);
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


def ip_hash_peer(address, peers=2):
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
        self.gunicorn = serve_gunicorn("tests.apps.deploy_app:create_app()",
                                       "gevent", env=env)
        #: Upstream order in the nginx configuration.
        self.processes = [self.standalone, self.gunicorn]
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

    def connect(self, name, address, transports, origin=ORIGIN):
        self.send(op="connect", name=name, url=self.stack.url,
                  ca=self.stack.ca_pem, localAddress=address,
                  transports=list(transports), origin=origin)
        return self.wait(name, "connect")["data"]["sid"]

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


def test_pair_over_two_processes_joins_and_relays(stack, clients):
    here, there = address_for(0), address_for(1)
    before = [connected(p) for p in stack.processes]
    alice = clients.connect("alice", here, ["websocket"])
    bob = clients.connect("bob", there, ["polling"])
    assert [connected(p) - n for p, n in zip(stack.processes, before)] \
        == [1, 1]
    join(clients, "alice", "split", "s3cret")
    join(clients, "bob", "split", "s3cret")
    clients.wait("alice", "#rtcio:init-offer", lambda d: d["source"] == bob)
    clients.wait("bob", "user-connected", lambda d: d["id"] == alice)
    clients.emit("alice", "#rtcio:message",
                 {"target": bob, "data": {"description": "offer"}})
    got = clients.wait("bob", "#rtcio:message")["data"]
    assert got["source"] == alice and got["data"] == {"description": "offer"}
    clients.emit("bob", "#rtcio:message",
                 {"target": alice, "data": {"description": "answer"}})
    got = clients.wait("alice", "#rtcio:message")["data"]
    assert got["source"] == bob and got["data"] == {"description": "answer"}


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
    carol = clients.connect("carol", address_for(1 - tab_peer), ["polling"])
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
    # The page's socket: a polling session logged in to /admin (every
    # request from 127.0.0.1 goes to one process: ip_hash). From the
    # page's own origin it is refused here, with what to write: the
    # processes allow only ORIGIN (docs/admin.rst says to add the UI's).
    url = stack.url + "/socket.io/?EIO=4&transport=polling"
    refused = requests.get(url, headers={"Origin": stack.url},
                           verify=stack.ca_file_path, timeout=10)
    assert refused.status_code == 400 and \
        "add it to --allowed-origins" in refused.text, refused.text
    headers = {"Origin": ORIGIN}
    opened = requests.get(url, headers=headers, verify=stack.ca_file_path,
                          timeout=10)
    assert opened.status_code == 200, opened.text
    url += "&sid=" + json.loads(opened.text[1:])["sid"]
    login = json.dumps({"username": "admin", "password": ADMIN_PASSWORD})
    assert requests.post(url, data="40/admin," + login, headers=headers,
                         verify=stack.ca_file_path, timeout=10).ok
    answer = requests.get(url, headers=headers, verify=stack.ca_file_path,
                          timeout=10).text
    assert answer.split("\x1e")[0].startswith('40/admin,{"sid"'), answer
    assert requests.post(url, data="1", headers=headers,
                         verify=stack.ca_file_path, timeout=10).ok
