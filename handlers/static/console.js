// Small progressive enhancements only; every page works without this file.
(function () {
  "use strict";
  // Ask before a reveal or another action that writes an audit record.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
})();
