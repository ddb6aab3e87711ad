// eRx Info: while a background device sync runs, ask the EHR whether it finished and, when
// it did, reload the page so the table and any notice show what ID.me has now.
(function () {
  "use strict";
  var section = document.querySelector("[data-device-sync-status]");
  if (!section) {
    return;
  }
  var statusUrl = section.getAttribute("data-device-sync-status");
  // Milliseconds since the epoch of the attempt this page shows (0: none yet).
  var seenAttempt = Number(section.getAttribute("data-last-attempt-ms")) || 0;
  var tries = 0;
  var maxTries = 15;

  function check() {
    tries += 1;
    fetch(statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (body) {
        var attempt = body && body.last_attempt_at ? Date.parse(body.last_attempt_at) : 0;
        // Reload once a newer attempt finished (a NaN from an odd date never reloads).
        if (attempt > seenAttempt + 1) {
          window.location.reload();
        } else if (tries < maxTries) {
          window.setTimeout(check, 2000);
        }
      })
      .catch(function () {
        if (tries < maxTries) {
          window.setTimeout(check, 4000);
        }
      });
  }

  window.setTimeout(check, 1500);
})();
