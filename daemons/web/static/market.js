// Marketplace: keeps the visitor's API key in sessionStorage (this tab only, never on the server)
// and follows a job page until its receipt is settled.
(function () {
  "use strict";
  var STORE = "aitbc-api-key";
  var key = null;
  try { key = window.sessionStorage.getItem(STORE); } catch (e) { key = null; }

  var submit = document.getElementById("submit");
  if (submit) {
    var input = document.getElementById("api_key");
    if (key && input && !input.value) { input.value = key; }
    submit.addEventListener("submit", function () {
      try { window.sessionStorage.setItem(STORE, input.value.trim()); } catch (e) { /* private mode: form still works */ }
    });
  }

  var job = document.getElementById("job");
  if (!job) { return; }
  var state = document.getElementById("live-state");
  var form = document.getElementById("key-form");
  if (form) {
    form.addEventListener("submit", function () {
      try { window.sessionStorage.setItem(STORE, document.getElementById("api_key").value.trim()); } catch (e) { /* ignore */ }
    });
  }
  if (!key) { return; }
  if (form) { form.hidden = true; }
  var failures = 0;

  function follow() {
    fetch("/fragment/job/" + encodeURIComponent(job.dataset.job), { headers: { "X-Api-Key": key } }).then(function (res) {
      return res.text().then(function (html) { return { ok: res.ok, status: res.status, html: html }; });
    }).then(function (answer) {
      if (!answer.ok) {
        if (state) { state.textContent = "Cannot follow this job (HTTP " + answer.status + ")."; }
        if (answer.status === 401 || answer.status === 404) { if (form) { form.hidden = false; } return; }
        failures += 1;
        setTimeout(follow, Math.min(30000, 2000 * (failures + 1)));
        return;
      }
      failures = 0;
      job.innerHTML = answer.html;
      var current = document.getElementById("job-state");
      var done = current && current.dataset.done === "yes";
      if (state) { state.textContent = done ? "Finished." : "Following this job live."; }
      if (!done) { setTimeout(follow, 1500); }
    }).catch(function () {
      failures += 1;
      if (state) { state.textContent = "Lost contact with the Marketplace; retrying."; }
      setTimeout(follow, Math.min(30000, 2000 * (failures + 1)));
    });
  }
  follow();
})();
