// A minimal rtc.io peer for the Python-peer tests: socket.io-client for
// signaling, the browser's RTCPeerConnection, and the rtc.io peer
// conventions of PROTOCOL.md: rtcio:ctrl negotiated id 0, named channels
// rtcio:ch:<name> with the FNV-1a id, {"e","d"} JSON or raw binary, the
// existing member (init-offer) polite and offering, trickle candidates.
// Query: ?name=&room=&password=&channels=a,b&audio=1&ice=ask&relay=1
(function () {
  "use strict";
  var MESSAGE = "#rtcio:message", INIT_OFFER = "#rtcio:init-offer",
    PEER_LEFT = "#rtcio:peer-left";
  var LOCAL = ["peer-connect", "peer-disconnect", "track-added", "track-removed"];
  var params = new URLSearchParams(location.search);
  var channelNames = (params.get("channels") || "").split(",").filter(Boolean);

  var rtc = window.rtc = {
    me: null, joined: false, joinError: null, connectError: null,
    peers: {},        // id -> {pc, ctrl, channels: {name: dc}, polite, open}
    connects: [],     // ids, in peer-connect order
    disconnects: [],  // ids, in peer-disconnect order
    inbox: [],        // {from, channel, event, args} or {from, channel, bytes}
    tracks: [],       // {from, kind}
    candidateTypes: {},  // id -> [local candidate types]
    iceServers: [],
    localStream: null,
  };

  function fnv1a(name) {
    var h = 0x811c9dc5;
    for (var i = 0; i < name.length; i++) {
      h ^= name.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h >>> 0;
  }
  rtc.channelId = function (name) { return (fnv1a(name) % 1023) + 1; };

  function setStatus(text) { document.getElementById("status").textContent = text; }

  function onMessage(id, channel, raw) {
    if (typeof raw !== "string") {
      rtc.inbox.push({ from: id, channel: channel, bytes: Array.from(new Uint8Array(raw)) });
      return;
    }
    if (raw.length > 1024 * 1024) return;
    var msg;
    try { msg = JSON.parse(raw); } catch (e) { return; }
    if (!msg || typeof msg.e !== "string" || !Array.isArray(msg.d)) return;
    if (msg.e.indexOf("#rtcio:") === 0 || LOCAL.indexOf(msg.e) >= 0) return;
    rtc.inbox.push({ from: id, channel: channel, event: msg.e, args: msg.d });
  }

  function addChannel(peer, name) {
    var dc = peer.pc.createDataChannel("rtcio:ch:" + name,
      { negotiated: true, id: rtc.channelId(name), ordered: true });
    dc.binaryType = "arraybuffer";
    dc.onmessage = function (ev) { onMessage(peer.id, name, ev.data); };
    peer.channels[name] = dc;
  }

  function signal(target, data) {
    rtc.socket.emit(MESSAGE, { source: rtc.me, target: target, data: data });
  }

  function peerFor(id, polite) {
    var peer = rtc.peers[id];
    if (peer) return peer;
    var config = { iceServers: rtc.iceServers };
    if (params.get("relay")) config.iceTransportPolicy = "relay";
    var pc = new RTCPeerConnection(config);
    peer = rtc.peers[id] = { id: id, pc: pc, polite: polite, open: false,
      channels: {}, pending: [], queue: Promise.resolve(), makingOffer: false };
    rtc.candidateTypes[id] = [];
    if (rtc.localStream) {
      rtc.localStream.getTracks().forEach(function (t) { pc.addTrack(t, rtc.localStream); });
    }
    var ctrl = peer.ctrl = pc.createDataChannel("rtcio:ctrl", { negotiated: true, id: 0, ordered: true });
    ctrl.onopen = function () { peer.open = true; rtc.connects.push(id); };
    ctrl.onclose = function () { dropPeer(id); };
    ctrl.onmessage = function (ev) { onMessage(id, null, ev.data); };
    channelNames.forEach(function (name) { addChannel(peer, name); });
    pc.onicecandidate = function (ev) {
      var c = ev.candidate;
      if (c && c.type) rtc.candidateTypes[id].push(c.type);
      signal(id, { candidate: c ? c.toJSON() : { candidate: "", sdpMid: "0", sdpMLineIndex: 0 } });
    };
    pc.ontrack = function (ev) { rtc.tracks.push({ from: id, kind: ev.track.kind }); };
    return peer;
  }

  function dropPeer(id) {
    var peer = rtc.peers[id];
    if (!peer) return;
    delete rtc.peers[id];
    if (peer.open) rtc.disconnects.push(id);
    peer.pc.close();
  }

  function handleSignal(peer, data) {
    var pc = peer.pc;
    if (data.description) {
      var d = data.description;
      var collision = d.type === "offer" && (peer.makingOffer || pc.signalingState !== "stable");
      if (collision && !peer.polite) return Promise.resolve();
      return pc.setRemoteDescription(d).then(function () {
        return Promise.all(peer.pending.splice(0).map(function (c) {
          return pc.addIceCandidate(c).catch(function () {});
        }));
      }).then(function () {
        if (d.type !== "offer") return;
        return pc.setLocalDescription().then(function () {
          signal(peer.id, { description: pc.localDescription.toJSON() });
        });
      });
    }
    if (data.candidate) {
      if (!pc.remoteDescription) { peer.pending.push(data.candidate); return Promise.resolve(); }
      return pc.addIceCandidate(data.candidate).catch(function () {});
    }
    return Promise.resolve();
  }

  // -- what tests call ----------------------------------------------------

  function payload(event, args) { return JSON.stringify({ e: event, d: args }); }

  rtc.emit = function (event, args) {  // ctrl channel, every open peer
    var n = 0;
    Object.keys(rtc.peers).forEach(function (id) {
      var ctrl = rtc.peers[id].ctrl;
      if (ctrl.readyState === "open") { ctrl.send(payload(event, args)); n++; }
    });
    return n;
  };
  rtc.emitTo = function (id, channel, event, args) {
    var peer = rtc.peers[id];
    var dc = channel ? peer.channels[channel] : peer.ctrl;
    if (!dc || dc.readyState !== "open") return false;
    dc.send(payload(event, args));
    return true;
  };
  rtc.sendBytes = function (id, channel, bytes) {
    var dc = rtc.peers[id].channels[channel];
    if (!dc || dc.readyState !== "open") return false;
    dc.send(new Uint8Array(bytes).buffer);
    return true;
  };
  rtc.channelOpen = function (id, channel) {
    var peer = rtc.peers[id];
    var dc = peer && (channel ? peer.channels[channel] : peer.ctrl);
    return !!dc && dc.readyState === "open";
  };
  rtc.leave = function () { rtc.socket.disconnect(); Object.keys(rtc.peers).forEach(dropPeer); };

  // -- signaling ----------------------------------------------------------

  function connect() {
    var socket = rtc.socket = io({ transports: ["websocket"] });
    socket.on("connect", function () {
      rtc.me = socket.id;
      var join = function () {
        var data = { roomId: params.get("room"), name: params.get("name") };
        if (params.get("password")) data.password = params.get("password");
        socket.emit("join-room", data);
      };
      if (params.get("ice") === "ask") {
        socket.emit("ask-ice", null, function (answer) {
          rtc.iceServers = (answer && answer.iceServers) || [];
          join();
        });
      } else join();
    });
    socket.on("connect_error", function (e) { rtc.connectError = e.message; });
    socket.on("join-ok", function () { rtc.joined = true; setStatus("joined"); });
    socket.on("join-error", function (e) { rtc.joinError = e; });
    socket.on("error", function (e) { rtc.joinError = e; });
    socket.on("user-disconnected", function (m) { if (m) dropPeer(m.id); });
    socket.on(PEER_LEFT, function (m) { if (m) dropPeer(m.id); });
    socket.on(INIT_OFFER, function (m) {
      var peer = peerFor(m.source, true);
      peer.queue = peer.queue.then(function () {
        peer.makingOffer = true;
        return peer.pc.setLocalDescription().then(function () {
          signal(peer.id, { description: peer.pc.localDescription.toJSON() });
        }).finally(function () { peer.makingOffer = false; });
      }).catch(function (e) { console.error("offer failed", e); });
    });
    socket.on(MESSAGE, function (env) {
      if (!env || !env.source || !env.data) return;
      var peer = peerFor(env.source, false);
      peer.queue = peer.queue.then(function () { return handleSignal(peer, env.data); })
        .catch(function (e) { console.error("signal failed", e); });
    });
  }

  var ready = params.get("audio")
    ? navigator.mediaDevices.getUserMedia({ audio: true }).then(function (s) { rtc.localStream = s; })
    : Promise.resolve();
  ready.then(connect, function (e) { setStatus("getUserMedia failed: " + e); });
})();
