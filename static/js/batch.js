// Batch dossiers: follow a job's progress (sections rendered, then merged) until its file is ready.
// Every element with data-batch-status-url polls its JSON status; when the job ends, the page
// reloads once, so the download, page count and any error come from the server as usual.
(function () {
  "use strict";

  var FINAL = { ready: true, failed: true };

  function follow(box) {
    var role = function (name) { return box.querySelector('[data-role="' + name + '"]'); };
    var poll = function () {
      fetch(box.dataset.batchStatusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          var badge = role("status");
          if (badge) {
            badge.textContent = data.status_label;
            badge.className = "badge dossier-" + data.status;
          }
          var bar = role("progress");
          if (bar && data.progress_total) {
            bar.max = data.progress_total;
            bar.value = data.progress_done;
          }
          var text = role("progress-text");
          if (text && data.progress_text) { text.textContent = data.progress_text; }
          var stalled = role("stalled");
          if (stalled) { stalled.hidden = !data.stalled; }
          var attempts = role("attempts");
          if (attempts) { attempts.textContent = data.attempts; }
          var error = role("error");
          if (error && data.error) {
            error.textContent = data.error;
            error.hidden = false;
          }
          if (FINAL[data.status]) {
            window.location.reload();
          } else {
            window.setTimeout(poll, 1000);
          }
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, 500);
  }

  var boxes = document.querySelectorAll("[data-batch-status-url]");
  for (var i = 0; i < boxes.length; i++) {
    if (!FINAL[boxes[i].dataset.status]) { follow(boxes[i]); }
  }
})();
