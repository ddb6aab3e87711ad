// Push wait page: poll the sign-in push's status and continue once it is approved.
(function () {
  "use strict";
  var box = document.getElementById("push-wait");
  if (!box) { return; }
  var url = box.getAttribute("data-status-url");
  var statusLine = document.getElementById("push-status");
  var form = document.getElementById("push-continue");
  var messages = {
    approved: "Approved. Signing you in\u2026",
    denied: "The request was denied. Go back and choose a method.",
    expired: "The request expired. Go back and choose a method.",
    cancelled: "The request was cancelled. Go back and choose a method."
  };
  var timer = null;
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        if (data.status === "pending") { return; }
        window.clearInterval(timer);
        statusLine.textContent = messages[data.status] || data.status;
        if (data.status === "approved") {
          var button = form.querySelector('button[value="continue"]');
          if (form.requestSubmit && button) { form.requestSubmit(button); } else { form.submit(); }
        }
      })
      .catch(function () { /* try again at the next tick */ });
  }
  if (box.getAttribute("data-status") === "pending") {
    timer = window.setInterval(poll, 2000);
  }
})();
