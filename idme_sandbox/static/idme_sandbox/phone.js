// The simulated ID.me Authenticator. Pairing makes an Ed25519 key pair with WebCrypto; the
// private key stays in this browser (localStorage, as a JWK); the sandbox gets the public key.
(function () {
  "use strict";
  var root = document.getElementById("phone");
  if (!root) { return; }
  var STORAGE_KEY = "idme-sandbox-phone";
  var urls = {
    pair: root.getAttribute("data-api"),
    pending: root.getAttribute("data-pending-url"),
    answer: root.getAttribute("data-answer-url")
  };
  var el = function (id) { return document.getElementById(id); };
  var errorBox = el("phone-error");
  var pollTimer = null;
  var shown = {};

  function showError(text) {
    if (!text) { errorBox.hidden = true; errorBox.textContent = ""; return; }
    errorBox.textContent = text;
    errorBox.hidden = false;
  }
  function b64url(buffer) {
    var bytes = new Uint8Array(buffer), text = "";
    for (var i = 0; i < bytes.length; i++) { text += String.fromCharCode(bytes[i]); }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function load() {
    try { return JSON.parse(window.localStorage.getItem(STORAGE_KEY) || "null"); } catch (e) { return null; }
  }
  function save(state) { window.localStorage.setItem(STORAGE_KEY, JSON.stringify(state)); }
  function privateKey(state) {
    return crypto.subtle.importKey("jwk", state.privateJwk, { name: "Ed25519" }, false, ["sign"]);
  }
  function sign(state, text) {
    return privateKey(state).then(function (key) {
      return crypto.subtle.sign({ name: "Ed25519" }, key, new TextEncoder().encode(text));
    }).then(b64url);
  }
  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "omit",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { ok: response.ok, status: response.status, data: data };
      });
    });
  }

  function render() {
    var state = load();
    el("pair-form").hidden = !!state;
    el("paired").hidden = !state;
    if (pollTimer) { window.clearInterval(pollTimer); pollTimer = null; }
    if (state) {
      el("paired-name").textContent = state.name;
      refresh();
      pollTimer = window.setInterval(refresh, 3000);
    }
  }

  function pair(event) {
    event.preventDefault();
    showError("");
    var code = el("pairing-code").value.trim();
    var name = el("device-name").value.trim() || "Sandbox phone";
    if (!code) { showError("Enter the pairing code shown on the Set Up page."); return; }
    var keys;
    crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]).then(function (pair) {
      keys = pair;
      return crypto.subtle.exportKey("raw", pair.publicKey);
    }).then(function (raw) {
      return post(urls.pair, { pairing_code: code, public_key: b64url(raw), name: name });
    }).then(function (result) {
      if (!result.ok) { throw new Error(result.data.error_description || "Pairing failed."); }
      return crypto.subtle.exportKey("jwk", keys.privateKey).then(function (jwk) {
        save({ deviceId: result.data.device_id, name: result.data.name, privateJwk: jwk });
        el("pairing-code").value = "";
        render();
      });
    }).catch(function (error) { showError(error.message || String(error)); });
  }

  function refresh() {
    var state = load();
    if (!state) { return; }
    var timestamp = Math.floor(Date.now() / 1000);
    sign(state, "pending:" + state.deviceId + ":" + timestamp).then(function (signature) {
      return post(urls.pending, { device_id: state.deviceId, timestamp: timestamp, signature: signature });
    }).then(function (result) {
      if (!result.ok) {
        el("pending-status").textContent = result.data.error_description || "Could not load requests.";
        return;
      }
      showRequests(result.data.requests || []);
    }).catch(function () { el("pending-status").textContent = "Could not reach ID.me."; });
  }

  function showRequests(requests) {
    var list = el("requests");
    var wanted = {};
    requests.forEach(function (request) { wanted[request.txid] = true; });
    Object.keys(shown).forEach(function (txid) {
      if (!wanted[txid]) { shown[txid].remove(); delete shown[txid]; }
    });
    requests.forEach(function (request) {
      if (shown[request.txid]) { return; }
      var item = el("request-template").content.firstElementChild.cloneNode(true);
      item.querySelector(".request-title").textContent = request.title;
      item.querySelector(".request-message").textContent = request.message;
      item.querySelector(".request-meta").textContent =
        "From " + request.partner + " \u00b7 expires " + new Date(request.expires_at).toLocaleTimeString();
      var input = item.querySelector(".number-input");
      var label = item.querySelector(".number-label");
      input.id = "number-" + request.txid;
      label.setAttribute("for", input.id);
      item.setAttribute("aria-label", request.title);
      item.querySelector(".request-form").addEventListener("submit", function (event) {
        event.preventDefault();
        var decision = event.submitter ? event.submitter.value : "approve";
        answer(request.txid, decision, input.value.trim(), item);
      });
      list.appendChild(item);
      shown[request.txid] = item;
    });
    el("pending-status").textContent = requests.length
      ? requests.length + " pending request" + (requests.length > 1 ? "s" : "") + "."
      : "No pending requests.";
  }

  function answer(txid, decision, number, item) {
    var state = load();
    showError("");
    if (decision === "approve" && !/^\d{2}$/.test(number)) {
      showError("Enter the 2-digit number shown on the requesting screen.");
      return;
    }
    sign(state, txid + ":" + decision + ":" + number).then(function (signature) {
      return post(urls.answer, { txid: txid, decision: decision, match_number: number, signature: signature });
    }).then(function (result) {
      item.remove();
      delete shown[txid];
      if (!result.ok) { showError(result.data.error_description || "The answer was refused."); return; }
      el("pending-status").textContent = decision === "approve" ? "Approved." : "Denied.";
    }).catch(function (error) { showError(error.message || String(error)); });
  }

  el("pair-form").addEventListener("submit", pair);
  el("refresh").addEventListener("click", refresh);
  el("forget").addEventListener("click", function () {
    window.localStorage.removeItem(STORAGE_KEY);
    shown = {};
    el("requests").textContent = "";
    render();
  });

  if (!window.crypto || !crypto.subtle) {
    el("phone-unsupported").hidden = false;
    return;
  }
  crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign"]).then(render, function () {
    el("phone-unsupported").hidden = false;
  });
})();
