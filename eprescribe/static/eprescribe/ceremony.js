// Signing ceremony: while a push waits, count down to its expiry and ask the EHR (never
// ID.me) for the challenge's status. Without JavaScript the Refresh button does the same.
//
// Screen readers (docs/accessibility.md): the ticking timer is not announced; a separate
// polite region (#push-announcer, empty at load) says the number to match once the page has
// loaded (so after Resend, the new number), then 60, 30 and 10 seconds left; from 30 seconds
// a visible warning points at Resend. An outcome (approved, denied, expired...) stays on
// screen with a Continue link and takes focus: the page never reloads by itself.
(function () {
  "use strict";
  var panel = document.getElementById("push-wait");
  if (!panel) { return; }
  var statusUrl = panel.getAttribute("data-status-url");
  var deadline = Date.now() + 1000 * parseInt(panel.getAttribute("data-seconds-left") || "0", 10);
  var secondsNode = document.getElementById("push-seconds-left");
  var countdownNode = document.getElementById("push-countdown");
  var statusNode = document.getElementById("push-status");
  var warningNode = document.getElementById("push-warning");
  var announcer = document.getElementById("push-announcer");
  var outcomeBox = document.getElementById("push-outcome");
  var outcomeMessage = document.getElementById("push-outcome-message");
  var MARKS = [60, 30, 10];
  var WARN_AT = 30;
  var passed = {};
  var finished = false;
  var ticker = null;

  function secondsLeft() {
    return Math.max(0, Math.round((deadline - Date.now()) / 1000));
  }

  function announce(text) {
    // Cleared first, then written: the same words twice are still announced.
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 150);
  }

  function tick() {
    var left = secondsLeft();
    var minutes = Math.floor(left / 60);
    var seconds = left % 60;
    secondsNode.textContent = left + "";
    secondsNode.setAttribute("title", minutes + ":" + (seconds < 10 ? "0" : "") + seconds);
    if (left <= WARN_AT && left > 0) { warningNode.hidden = false; }
    for (var i = 0; i < MARKS.length; i += 1) {
      var mark = MARKS[i];
      if (left <= mark && !passed[mark]) {
        passed[mark] = true;
        if (left > 0 && mark - left < 5) {
          announce(mark + " seconds left to approve." + (mark <= WARN_AT ? " No notification? Use Resend for a new number." : ""));
        }
      }
    }
  }

  function finish(message) {
    finished = true;
    window.clearInterval(ticker);
    warningNode.hidden = true;
    countdownNode.hidden = true;
    statusNode.textContent = message;
    outcomeMessage.textContent = message;
    outcomeBox.hidden = false;
    outcomeBox.focus();
  }

  function poll() {
    if (finished) { return; }
    fetch(statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (body) {
        if (typeof body.seconds_left === "number" && body.status === "pending") {
          deadline = Date.now() + 1000 * body.seconds_left;
        }
        if (body.status && body.status !== "pending") {
          finish(body.status === "approved"
            ? "Approved on your phone. Continue to see the signed prescriptions."
            : (body.message || "The push notification is finished.") + " Continue to choose what to do next.");
          return;
        }
        window.setTimeout(poll, 1000);
      })
      .catch(function () {
        statusNode.textContent = "Cannot reach the EHR; retrying. You can also use Refresh.";
        window.setTimeout(poll, 3000);
      });
  }

  // Marks already behind us when the page loads are not announced late.
  var atLoad = secondsLeft();
  for (var i = 0; i < MARKS.length; i += 1) {
    if (atLoad < MARKS[i]) { passed[MARKS[i]] = true; }
  }
  tick();
  ticker = window.setInterval(tick, 1000);
  window.setTimeout(function () {
    announce("Push notification sent to " + panel.getAttribute("data-device") + ". Number to match: " +
      panel.getAttribute("data-match-number") + ". It expires in " + secondsLeft() + " seconds.");
  }, 600);
  window.setTimeout(poll, 1000);
}());
