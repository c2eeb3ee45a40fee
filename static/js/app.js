// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // Ask before destructive actions (withdraw, reject, delete).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    var message = (button && button.dataset.confirm) || form.dataset.confirm;
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  // Live sum of the funding sources next to the total investment.
  var projectForm = document.getElementById("project-form");
  if (projectForm) {
    var names = ["fund_central", "fund_provincial", "fund_local_fiscal", "fund_self", "fund_loan", "fund_other"];
    var output = document.getElementById("funding-sum");
    var toCents = function (value) {
      var clean = (value || "").replace(/[,，\s]/g, "");
      if (!/^\d+(\.\d{1,2})?$/.test(clean)) { return null; }
      var parts = clean.split(".");
      return parseInt(parts[0], 10) * 100 + parseInt(((parts[1] || "") + "00").slice(0, 2), 10);
    };
    var update = function () {
      var sum = 0;
      names.forEach(function (name) {
        var cents = toCents(projectForm.elements[name].value);
        if (cents !== null) { sum += cents; }
      });
      var total = toCents(projectForm.elements.total_investment.value);
      var text = "当前合计 " + (sum / 100).toFixed(2) + " 万元";
      if (total !== null) { text += sum === total ? "(与总投资一致)" : "(与总投资相差 " + ((total - sum) / 100).toFixed(2) + " 万元)"; }
      output.textContent = text;
    };
    projectForm.addEventListener("input", update);
    update();
  }

  // Dossier status: poll until ready or failed.
  var box = document.getElementById("dossier");
  if (box && box.dataset.status !== "ready" && box.dataset.status !== "failed") {
    var badge = document.getElementById("dossier-status");
    var poll = function () {
      fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          badge.textContent = data.status_label;
          badge.className = "badge dossier-" + data.status;
          box.dataset.status = data.status;
          // A retry's note (第 N 次生成失败,正在重试) shows while it waits and goes once made.
          if (data.status !== "failed") {
            var note = document.getElementById("dossier-error");
            note.textContent = data.error || "";
            note.hidden = !data.error;
          }
          if (data.status === "ready" || data.status === "failed") {
            document.getElementById("dossier-wait").hidden = true;
          }
          if (data.status === "ready") {
            var download = document.getElementById("dossier-download");
            download.querySelector("a").href = data.download_url;
            if (data.page_count) { document.getElementById("dossier-pages").textContent = "共 " + data.page_count + " 页"; }
            download.hidden = false;
            document.getElementById("dossier-spinner").hidden = true;
          } else if (data.status === "failed") {
            var error = document.getElementById("dossier-error");
            error.textContent = data.error || "生成失败";
            error.hidden = false;
            document.getElementById("dossier-retry").hidden = false;
            document.getElementById("dossier-spinner").hidden = true;
          } else {
            window.setTimeout(poll, 800);
          }
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, 300);
  }
})();
