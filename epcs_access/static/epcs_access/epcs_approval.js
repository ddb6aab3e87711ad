// EPCS Permissions: while a push approval is pending, ask the EHR (never ID.me) for its status.
(function () {
  "use strict";
  var box = document.getElementById("epcs-push");
  var status = document.getElementById("epcs-push-status");
  if (!box || !status) { return; }
  var url = box.getAttribute("data-status-url");
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (body) {
        if (body.status === "pending") {
          status.textContent = "Waiting for your approval (" + body.seconds_left + " seconds left).";
          window.setTimeout(poll, 1500);
        } else {
          window.location.reload();
        }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1500);
}());
