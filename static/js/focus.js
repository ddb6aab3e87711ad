// After a form round trip, put keyboard and screen-reader focus where the answer is
// (docs/accessibility.md): the first invalid field (its aria-describedby names the error),
// else the first message that reports the outcome (an error box, a notice marked
// data-outcome, or the page's messages). Pages without either keep the browser's default.
(function () {
  "use strict";
  function visible(el) {
    return el && el.getClientRects().length > 0;
  }
  function first(selector) {
    var found = document.querySelectorAll(selector);
    for (var i = 0; i < found.length; i += 1) {
      if (visible(found[i])) { return found[i]; }
    }
    return null;
  }
  function focusOnLoad() {
    var target = first('main [aria-invalid="true"]');
    if (!target) {
      target = first("main .form-errors, main [data-outcome], main .messages");
      if (target && !target.hasAttribute("tabindex")) { target.setAttribute("tabindex", "-1"); }
    }
    if (target) { target.focus(); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", focusOnLoad);
  } else {
    focusOnLoad();
  }
}());
