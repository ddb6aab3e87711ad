// Signing ceremony: while a push waits, count down to its expiry and ask the EHR (never
// ID.me) for the challenge's status; reload the page when it is decided. Without
// JavaScript the Refresh button does the same.
(function () {
  "use strict";
  var panel = document.getElementById("push-wait");
  if (!panel) { return; }
  var statusUrl = panel.getAttribute("data-status-url");
  var deadline = Date.now() + 1000 * parseInt(panel.getAttribute("data-seconds-left") || "0", 10);
  var secondsNode = document.getElementById("push-seconds-left");
  var statusNode = document.getElementById("push-status");
  var finished = false;

  function tick() {
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    var minutes = Math.floor(left / 60);
    var seconds = left % 60;
    if (secondsNode) {
      secondsNode.textContent = left + "";
      secondsNode.setAttribute("title", minutes + ":" + (seconds < 10 ? "0" : "") + seconds);
    }
  }

  function poll() {
    if (finished) { return; }
    fetch(statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (body) {
        if (typeof body.seconds_left === "number") {
          deadline = Date.now() + 1000 * body.seconds_left;
        }
        if (body.status && body.status !== "pending") {
          finished = true;
          statusNode.textContent = body.status === "approved" ? "Approved. Signing..." : (body.message || "Finished.");
          window.location.reload();
          return;
        }
        window.setTimeout(poll, 1000);
      })
      .catch(function () {
        statusNode.textContent = "Cannot reach the EHR; retrying. You can also use Refresh.";
        window.setTimeout(poll, 3000);
      });
  }

  tick();
  window.setInterval(tick, 1000);
  window.setTimeout(poll, 1000);
}());
