// The demo page: socket.io-client for signaling, the browser's own
// RTCPeerConnection for the peer-to-peer part (camera, microphone and the
// rtc.io control DataChannel), speaking the rtc.io envelope
// (#rtcio:message {source, target, data}) so any rtc.io client could join
// the same room. Query options: ?name=&room=&autojoin=1&nologin=1
// &transports=websocket|polling&server=<signaling URL>&media=0 (no camera).
//
// A dropped connection is not the end: socket.io-client reconnects, the
// page says "Reconnecting", the calls (direct between browsers) go on, and
// when the server recovered the socket (connection state recovery) nothing
// else happens; after a server restart the page joins its room again and
// the calls are set up anew.
(function () {
  "use strict";

  var EV = {
    MESSAGE: "#rtcio:message",
    INIT_OFFER: "#rtcio:init-offer",
    PEER_LEFT: "#rtcio:peer-left",
  };
  // Names a peer may not send over the control channel (PROTOCOL.md).
  var LOCAL_ONLY = ["peer-connect", "peer-disconnect", "track-added", "track-removed"];
  var MAX_CTRL_BYTES = 1024 * 1024;
  // How long a peer has to answer over the call after a peer-left hint.
  var PING_WAIT_MS = 1500;

  var params = new URLSearchParams(location.search);
  var config = window.RTCIO_DEMO_CONFIG || {};
  // Same host name as the page, unless told otherwise: 127.0.0.1 and
  // localhost are different sites, and the login cookie must stay same-site.
  var serverUrl = (params.get("server") || config.signalingUrl ||
    location.protocol + "//" + location.hostname + ":" + (config.signalingPort || 3001)).replace(/\/$/, "");
  var transports = params.get("transports") ? params.get("transports").split(",") : undefined;

  // Everything the page knows, on window for curious people and for tests.
  var demo = window.demo = {
    serverUrl: serverUrl,
    socket: null,
    me: null,
    user: null,
    room: null,
    transport: null,
    transportsUsed: [],  // every Engine.IO transport this page has used
    connectError: null,
    joined: false,
    name: null,         // the name typed in the form
    everConnected: false,
    reconnecting: false,
    reconnects: 0,      // connections after the first (recovered or not)
    recovered: 0,       // of which the server recovered the socket
    localStream: null,  // camera and microphone, when the page has them
    media: "none",      // "camera", "receive-only" (no devices) or "none"
    peers: {},          // id -> {id, name, pc, ctrl, polite, open}
    chat: [],           // {from, text, at}
    peerLeftAt: {},     // id -> Date.now() when #rtcio:peer-left arrived
    goneAt: {},         // id -> Date.now() when the peer left the list
    log: [],
  };

  var $ = function (id) { return document.getElementById(id); };

  function logLine(text) {
    var line = new Date().toISOString().slice(11, 23) + " " + text;
    demo.log.push(line);
    var li = document.createElement("li");
    li.textContent = line;
    $("log").appendChild(li);
  }

  function setStatus(text, kind) {
    var el = $("status");
    el.textContent = text;
    el.className = "status" + (kind ? " " + kind : "");
  }

  // -- presence -----------------------------------------------------------

  function render() {
    var list = $("members");
    list.textContent = "";
    if (demo.me) {
      var self = document.createElement("li");
      self.dataset.peerId = demo.me;
      self.textContent = demo.user || demo.name || "(not logged in)";
      var you = document.createElement("span");
      you.className = "badge you";
      you.textContent = "you";
      self.appendChild(you);
      list.appendChild(self);
    }
    Object.keys(demo.peers).forEach(function (id) {
      var peer = demo.peers[id];
      var li = document.createElement("li");
      li.dataset.peerId = id;
      li.className = "peer" + (peer.open ? " p2p" : "");
      li.textContent = peer.name || id;
      var badge = document.createElement("span");
      badge.className = "badge" + (peer.open ? " p2p" : "");
      badge.textContent = peer.reconnecting ? "reconnecting" :
        peer.open ? "peer-to-peer" : (peer.pc ? peer.pc.connectionState : "in room");
      li.appendChild(badge);
      list.appendChild(li);
    });
    var anyOpen = Object.keys(demo.peers).some(function (id) { return demo.peers[id].open; });
    $("chat-input").disabled = !anyOpen;
    $("chat-send").disabled = !anyOpen;
  }

  function peerFor(id, polite) {
    var peer = demo.peers[id];
    if (!peer) {
      peer = demo.peers[id] = { id: id, name: null, pc: null, ctrl: null, open: false, queue: Promise.resolve() };
    }
    if (!peer.pc) startPeerConnection(peer, polite);
    return peer;
  }

  // Whether the browsers' own connection still carries the call.
  function callAlive(peer) {
    return !!(peer.pc && peer.open && peer.pc.connectionState === "connected");
  }

  function removePeer(id, why) {
    var peer = demo.peers[id];
    if (!peer) return;
    delete demo.peers[id];
    demo.goneAt[id] = Date.now();
    if (peer.pc) peer.pc.close();
    var tile = document.querySelector('#videos [data-peer-id="' + id + '"]');
    if (tile) tile.remove();
    logLine((peer.name || id) + " left (" + why + ")");
    render();
  }

  // -- WebRTC -------------------------------------------------------------

  function signal(target, data) {
    demo.socket.emit(EV.MESSAGE, { source: demo.me, target: target, data: data });
  }

  function startPeerConnection(peer, polite) {
    var pc = new RTCPeerConnection({ iceServers: config.iceServers || [] });
    peer.pc = pc;
    peer.polite = polite;
    peer.pending = [];
    // The rtc.io control channel: negotiated on both sides, id 0.
    var ctrl = pc.createDataChannel("rtcio:ctrl", { negotiated: true, id: 0, ordered: true });
    peer.ctrl = ctrl;
    ctrl.onopen = function () {
      peer.open = true;
      logLine("peer-connect " + (peer.name || peer.id));
      render();
    };
    ctrl.onclose = function () {
      peer.open = false;
      // The call ended while the peer was away from the server: gone.
      if (peer.reconnecting && demo.peers[peer.id] === peer) removePeer(peer.id, "call closed");
      else render();
    };
    ctrl.onmessage = function (event) { onControlMessage(peer, event.data); };
    // Camera and microphone go to every peer; a page without them still
    // asks to receive (recvonly), so it sees and hears the others.
    if (demo.localStream) {
      demo.localStream.getTracks().forEach(function (track) { pc.addTrack(track, demo.localStream); });
    } else {
      pc.addTransceiver("audio", { direction: "recvonly" });
      pc.addTransceiver("video", { direction: "recvonly" });
    }
    pc.ontrack = function (event) {
      var stream = event.streams[0] || new MediaStream([event.track]);
      videoTile(peer.id, function () { return peer.name || peer.id; }).srcObject = stream;
    };
    pc.onicecandidate = function (event) {
      var c = event.candidate;
      signal(peer.id, { candidate: c ? c.toJSON() : { candidate: "", sdpMid: "0", sdpMLineIndex: 0 } });
    };
    pc.onconnectionstatechange = function () {
      if (peer.reconnecting && !callAlive(peer) && demo.peers[peer.id] === peer) removePeer(peer.id, "call " + pc.connectionState);
      else render();
    };
  }

  function onControlMessage(peer, raw) {
    if (typeof raw !== "string" || raw.length > MAX_CTRL_BYTES) return;
    var msg;
    try { msg = JSON.parse(raw); } catch (e) { return; }
    if (!msg || typeof msg.e !== "string" || !Array.isArray(msg.d)) return;
    if (msg.e.indexOf("#rtcio:") === 0 || LOCAL_ONLY.indexOf(msg.e) >= 0) return;
    if (msg.e === "chat") addChat(peer.name || peer.id, String(msg.d[0]));
    // The demo's own liveness check after a #rtcio:peer-left hint.
    if (msg.e === "demo:ping" && peer.ctrl.readyState === "open") {
      peer.ctrl.send(JSON.stringify({ e: "demo:pong", d: msg.d }));
    }
    if (msg.e === "demo:pong" && msg.d[0] === peer.pingToken) peer.pingToken = null;
  }

  function handleSignal(peer, data) {
    var pc = peer.pc;
    if (data && data.description) {
      var description = data.description;
      // Perfect negotiation: the newcomer (impolite) ignores a colliding offer.
      var collision = description.type === "offer" && (peer.makingOffer || pc.signalingState !== "stable");
      if (collision && !peer.polite) return Promise.resolve();
      return pc.setRemoteDescription(description).then(function () {
        var pending = peer.pending.splice(0);
        return Promise.all(pending.map(function (c) { return addCandidate(pc, c); }));
      }).then(function () {
        if (description.type !== "offer") return;
        return pc.setLocalDescription().then(function () {
          signal(peer.id, { description: pc.localDescription.toJSON() });
        });
      });
    }
    if (data && data.candidate) {
      if (!pc.remoteDescription) { peer.pending.push(data.candidate); return Promise.resolve(); }
      return addCandidate(pc, data.candidate);
    }
    return Promise.resolve();  // {mid} / {mid, events}: no streams in this demo
  }

  function addCandidate(pc, candidate) {
    return pc.addIceCandidate(candidate).catch(function (err) {
      if (candidate.candidate) logLine("addIceCandidate failed: " + err.message);
    });
  }

  function makeOffer(peer) {
    peer.makingOffer = true;
    return peer.pc.setLocalDescription().then(function () {
      signal(peer.id, { description: peer.pc.localDescription.toJSON() });
    }).finally(function () { peer.makingOffer = false; });
  }

  // -- camera and microphone ----------------------------------------------

  // The <video> for a peer (or "me"), made on first use.
  function videoTile(id, label) {
    var box = $("videos");
    var tile = box.querySelector('[data-peer-id="' + id + '"]');
    if (!tile) {
      tile = document.createElement("figure");
      tile.className = "tile";
      tile.dataset.peerId = id;
      var video = document.createElement("video");
      video.autoplay = true;
      video.playsInline = true;
      if (id === "me") { video.muted = true; tile.classList.add("me"); }
      var caption = document.createElement("figcaption");
      tile.appendChild(video);
      tile.appendChild(caption);
      box.appendChild(tile);
    }
    tile.querySelector("figcaption").textContent = label();
    return tile.querySelector("video");
  }

  function setMediaStatus(text) { $("media-status").textContent = text; }

  // Camera and microphone, asked once; any failure (no devices, refused,
  // a page not served over https) leaves the page receive-only, with chat.
  function openMedia() {
    if (demo.localStream || params.get("media") === "0") {
      if (!demo.localStream) { demo.media = "receive-only"; setMediaStatus("Camera off (media=0): you see and hear the others, and chat."); }
      return Promise.resolve();
    }
    var md = navigator.mediaDevices;
    if (!md || !md.getUserMedia) {
      demo.media = "receive-only";
      setMediaStatus("This page cannot use a camera here (it needs https or localhost): " +
                     "you see and hear the others, and chat.");
      return Promise.resolve();
    }
    setMediaStatus("Asking for the camera and microphone ...");
    return md.getUserMedia({ video: { width: 640, height: 360 }, audio: true }).then(function (stream) {
      demo.localStream = stream;
      demo.media = "camera";
      videoTile("me", function () { return "you"; }).srcObject = stream;
      setMediaStatus("Camera and microphone on.");
    }, function (err) {
      demo.media = "receive-only";
      logLine("no camera: " + err.name + " " + err.message);
      setMediaStatus("No camera or microphone (" + err.name + "): you see and hear the others, and chat.");
    });
  }

  function closeMedia() {
    if (demo.localStream) demo.localStream.getTracks().forEach(function (t) { t.stop(); });
    demo.localStream = null;
    demo.media = "none";
    $("videos").textContent = "";
    setMediaStatus("");
  }

  // -- chat ---------------------------------------------------------------

  function addChat(from, text) {
    demo.chat.push({ from: from, text: text, at: Date.now() });
    var li = document.createElement("li");
    var who = document.createElement("b");
    who.textContent = from + ": ";
    li.appendChild(who);
    li.appendChild(document.createTextNode(text));
    $("chat-log").appendChild(li);
  }

  demo.sendChat = function (text) {
    var payload = JSON.stringify({ e: "chat", d: [text] });
    var sent = 0;
    Object.keys(demo.peers).forEach(function (id) {
      var ctrl = demo.peers[id].ctrl;
      if (ctrl && ctrl.readyState === "open") { ctrl.send(payload); sent++; }
    });
    if (sent) addChat("you", text);
    return sent;
  };

  // -- signaling ----------------------------------------------------------

  function login(name) {
    // The login goes to the signaling server's own origin, so the session
    // cookie it sets belongs to that origin and rides on the handshake.
    return fetch(serverUrl + "/login", {
      method: "POST",
      credentials: "include",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: name }),
    }).then(function (response) {
      if (!response.ok) throw new Error("login failed: HTTP " + response.status);
      return response.json();
    }).then(function (body) { return body.user; });
  }

  function noteTransport(name) {
    if (demo.transportsUsed.indexOf(name) < 0) demo.transportsUsed.push(name);
  }

  function connect(name, room) {
    demo.room = room;
    $("room-name").textContent = "(" + room + ")";
    var options = { withCredentials: true, closeOnBeforeunload: true };
    if (transports) options.transports = transports;
    var socket = demo.socket = io(serverUrl, options);
    setStatus("Connecting to " + serverUrl + " ...");

    socket.on("connect", function () {
      demo.me = socket.id;
      demo.connectError = null;
      demo.transport = socket.io.engine.transport.name;
      noteTransport(demo.transport);
      socket.io.engine.on("upgrade", function (t) {
        demo.transport = t.name;
        noteTransport(t.name);
        logLine("transport upgraded to " + t.name);
      });
      logLine("connected as " + socket.id + " over " + demo.transport);
      var again = demo.everConnected;
      demo.everConnected = true;
      demo.reconnecting = false;
      if (again) {
        demo.reconnects++;
        if (socket.recovered) {
          // Same socket, same rooms, missed events replayed: the calls
          // never stopped, nothing to redo.
          demo.recovered++;
          logLine("reconnected: the server recovered the socket");
          setStatus("Back in room " + room + " (the server kept our place).", "ok");
          render();
          return;
        }
        // A new socket (the server restarted or forgot us): our peers are
        // new sockets too; set the calls up again from a fresh join.
        logLine("reconnected as a new socket: joining " + room + " again");
        demo.joined = false;
        Object.keys(demo.peers).forEach(function (id) { removePeer(id, "server restarted"); });
      }
      socket.emit("whoami", null, function (info) {
        demo.user = info && info.user;
        if (demo.joined) setStatus(joinedText(room), "ok");
        render();
      });
      socket.emit("join-room", { roomId: room, name: name });
    });
    socket.io.on("reconnect_attempt", function (attempt) {
      setStatus("Reconnecting to " + serverUrl + " (attempt " + attempt + ") ...", "warn");
    });
    socket.on("connect_error", function (err) {
      logLine("connect_error: " + err.message);
      // While reconnecting, a transport error means the server is still
      // away: socket.io-client tries again by itself (socket.active). A
      // refusal by the server (or a first connection that fails) stops.
      if (demo.everConnected && socket.active) {
        setStatus("Reconnecting to " + serverUrl + " (" + err.message + ") ...", "warn");
        return;
      }
      giveUp(socket);
      explainRefusal(err.message).then(function (why) {
        setStatus("connect_error: " + err.message + why, "error");
        demo.connectError = err.message;  // set last: tests wait for it
      });
    });
    socket.on("disconnect", function (reason) {
      logLine("disconnected: " + reason);
      if (reason === "io client disconnect") return;  // Leave
      if (socket.active) {
        // The calls are direct between browsers and go on meanwhile.
        demo.reconnecting = true;
        setStatus("Reconnecting to " + serverUrl + " (" + reason + ") ...", "warn");
        render();
        return;
      }
      setStatus("Disconnected by the server (" + reason + ").", "error");
      Object.keys(demo.peers).forEach(function (id) { removePeer(id, "we were disconnected"); });
      giveUp(socket);
    });
    socket.on("join-ok", function () {
      demo.joined = true;
      logLine("join-ok " + room);
      setStatus(joinedText(room), "ok");
      showJoined(true);
      render();
    });
    socket.on("join-error", function (e) {
      logLine("join-error " + JSON.stringify(e));
      setStatus("Could not join: " + (e && (e.message || e.reason)) +
                ". Change the room or name and try again.", "error");
      giveUp(socket);
    });
    socket.on("error", function (e) {  // for example {code: "room-full", roomId}
      logLine("error " + JSON.stringify(e));
      setStatus("Could not join: " + (e && e.code) + ". Try another room.", "error");
      giveUp(socket);
    });
    socket.on("kicked", function (e) {
      logLine("kicked " + JSON.stringify(e));
      setStatus("Removed from room " + (e && e.roomId) + ": " + (e && e.reason), "error");
      Object.keys(demo.peers).forEach(function (id) { removePeer(id, "kicked"); });
    });
    socket.on("user-connected", function (m) {
      if (!m || m.id === demo.me) return;
      var peer = demo.peers[m.id] || (demo.peers[m.id] = { id: m.id, pc: null, open: false, queue: Promise.resolve() });
      peer.name = m.name;
      logLine("user-connected " + m.name + " " + m.id);
      render();
    });
    socket.on("user-disconnected", function (m) { if (m) removePeer(m.id, "user-disconnected"); });
    // A peer's connection to the server dropped; it may come back (the
    // server holds its place for the recovery window).
    socket.on("user-reconnecting", function (m) {
      if (m && demo.peers[m.id]) { demo.peers[m.id].reconnecting = true; render(); }
    });
    socket.on("user-reconnected", function (m) {
      if (m && demo.peers[m.id]) { demo.peers[m.id].reconnecting = false; render(); }
    });
    socket.on(EV.PEER_LEFT, function (m) {
      if (!m) return;
      demo.peerLeftAt[m.id] = Date.now();
      // A hint that the peer's socket went away, checked against the call
      // (PROTOCOL.md): a closed tab's call ends with it, but a peer that
      // only lost the server for a moment is still in the call with us.
      var peer = demo.peers[m.id];
      if (!peer) return;
      if (!callAlive(peer)) { removePeer(m.id, "#rtcio:peer-left"); return; }
      // Ask the peer itself over the call's own channel: a closed tab
      // does not answer (its peer connection may look connected for
      // seconds more), a peer that only lost the server does.
      peer.reconnecting = true;
      render();
      var token = String(Math.random());
      peer.pingToken = token;
      peer.ctrl.send(JSON.stringify({ e: "demo:ping", d: [token] }));
      setTimeout(function () {
        if (demo.peers[m.id] === peer && peer.pingToken === token) removePeer(m.id, "#rtcio:peer-left, no answer");
      }, PING_WAIT_MS);
    });
    // We were here first: we are polite and make the offer.
    socket.on(EV.INIT_OFFER, function (m) {
      if (!m || !m.source) return;
      var peer = peerFor(m.source, true);
      peer.queue = peer.queue.then(function () { return makeOffer(peer); })
        .catch(function (err) { logLine("offer failed: " + err.message); });
    });
    socket.on(EV.MESSAGE, function (envelope) {
      if (!envelope || !envelope.source) return;
      var peer = peerFor(envelope.source, false);
      peer.queue = peer.queue.then(function () { return handleSignal(peer, envelope.data); })
        .catch(function (err) { logLine("signal failed: " + err.message); });
    });
  }

  function joinedText(room) {
    var who = demo.user ? "Signed in as " + demo.user : "Not logged in, as " + demo.name;
    return who + " (socket " + demo.me + "), in room " + room + ".";
  }

  // A refused socket stops retrying and the buttons work again, so the
  // user can log in, or fix the room, and press a button once more.
  function giveUp(socket) {
    socket.close();
    if (demo.socket === socket) demo.socket = null;
    demo.joined = false;
    demo.everConnected = false;
    demo.reconnecting = false;
    $("join").disabled = $("join-anon").disabled = false;
    showJoined(false);
  }

  // In a room the join buttons give way to Leave.
  function showJoined(inRoom) {
    $("join").hidden = $("join-anon").hidden = inRoom;
    $("leave").hidden = !inRoom;
  }

  // Leave: out of the room, calls closed, camera off, back to the form.
  demo.leave = function () {
    var socket = demo.socket;
    if (!socket) return;
    if (socket.connected && demo.room) socket.emit("leave-room", { roomId: demo.room });
    Object.keys(demo.peers).forEach(function (id) { removePeer(id, "we left"); });
    socket.disconnect();
    giveUp(socket);
    closeMedia();
    demo.me = null;
    demo.room = null;
    $("room-name").textContent = "";
    setStatus("Left the room. Join again when you like.");
    render();
  };

  // What the user can do about a refused connection. The server's own
  // refusals carry their message ("login required..."); a refused origin
  // or refused credentials reach the page only as "xhr poll error" or
  // "websocket error" (the browser hides the answer). A request the
  // server answers with a 400 tells them apart: read without credentials
  // it fails only for a refused origin, read with them it fails also when
  // the server allows no credentials (this page connects with
  // withCredentials). The health route, fetched without CORS, tells a
  // refused origin from a server that is down.
  function explainRefusal(message) {
    if (/login required/i.test(message)) {
      return Promise.resolve(" (press \u201cLog in and join\u201d: the server only lets logged-in users connect)");
    }
    if (!/xhr poll error|websocket error|timeout/i.test(message)) return Promise.resolve("");
    var probe = serverUrl + "/socket.io/?EIO=4&transport=cors-check";
    function refusedOrigin() {
      return fetch(serverUrl + "/api/health", { mode: "no-cors" }).then(function () {
        return " (this page's origin " + location.origin + " is not in ALLOWED_ORIGINS on " +
          serverUrl + "; add it there, and the server's log names the refused origin)";
      }, function () {
        return " (nothing answers at " + serverUrl + ": is the server running?)";
      });
    }
    return fetch(probe, { credentials: "omit" }).then(function () {
      return fetch(probe, { credentials: "include" }).then(function () { return ""; }, function () {
        return " (the server at " + serverUrl + " allows this page's origin " + location.origin +
          " but not credentials, and this page connects with withCredentials to send its login" +
          " cookie; start the server with credentials on: rtcio-flask --credentials, or" +
          " cors={'origin': [...], 'credentials': True})";
      });
    }, refusedOrigin);
  }

  function start(withLogin) {
    var name = $("name").value.trim();
    var room = $("room").value.trim();
    if (!name || !room || demo.socket) return;
    demo.name = name;
    $("join").disabled = $("join-anon").disabled = true;
    var ready = openMedia().then(function () { return withLogin ? login(name) : null; });
    ready.then(function () { connect(name, room); }, function (err) {
      demo.connectError = err.message;
      setStatus(err.message + " (is " + location.origin + " in ALLOWED_ORIGINS?)", "error");
      $("join").disabled = $("join-anon").disabled = false;
    });
  }

  // -- wiring -------------------------------------------------------------

  $("page-origin").textContent = location.origin;
  $("server-url").textContent = serverUrl;
  if (params.get("name")) $("name").value = params.get("name");
  if (params.get("room")) $("room").value = params.get("room");
  $("join-form").addEventListener("submit", function (e) { e.preventDefault(); start(true); });
  $("join-anon").addEventListener("click", function () { start(false); });
  $("leave").addEventListener("click", function () { demo.leave(); });
  $("chat-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var text = $("chat-input").value.trim();
    if (text && demo.sendChat(text)) $("chat-input").value = "";
  });
  if (typeof io !== "function") setStatus("socket.io-client did not load: run `npm ci` in the repository root.", "error");
  else if (params.get("autojoin")) start(!params.get("nologin"));
})();
