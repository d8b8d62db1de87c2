// The import job page: asks the job's status endpoint every few seconds and updates the status panel in
// place (no page reload), until the job has ended or the Stop button has stopped it. Without script the panel
// shows the state of when the page was loaded, and Stop still works as a plain form post.
(function () {
  "use strict";
  var panel = document.getElementById("job-status");
  if (!panel) { return; }
  var url = panel.getAttribute("data-status-url");
  var every = parseInt(panel.getAttribute("data-poll-ms"), 10) || 1500;
  var timer = null;

  function field(name) { return panel.querySelector('[data-field="' + name + '"]'); }
  function setText(name, value) { var el = field(name); if (el) { el.textContent = value; } }
  function number(value) { return Number(value).toLocaleString("en-US"); }

  function show(status) {
    setText("state", status.state);
    var bar = field("progress");
    if (bar) { bar.value = status.percent; bar.textContent = status.percent + "%"; }
    setText("rows_processed", number(status.rows_processed));
    setText("rows_loaded", number(status.rows_loaded));
    setText("rows_rejected", number(status.rows_rejected));
    setText("message", status.message);
    var report = field("report");
    if (report && status.report_url) { field("report_link").href = status.report_url; report.hidden = false; }
    var stop = field("stop");
    if (stop && status.stopping) { stop.disabled = true; }
    if (status.final) {
      var form = field("stop_form");
      if (form) { form.remove(); }
      var following = field("following");
      if (following) { following.remove(); }
      // Messages from before the end ("Stop requested…") no longer describe the job.
      document.querySelectorAll(".messagelist li").forEach(function (li) { li.remove(); });
      if (timer) { clearTimeout(timer); timer = null; }
    }
    return status.final;
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.json(); })
      .then(function (status) { if (!show(status)) { timer = setTimeout(poll, every); } })
      .catch(function () { timer = setTimeout(poll, every * 4); });  // a failed poll slows down, not stops
  }

  var form = field("stop_form");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var stop = field("stop");
      if (stop) { stop.disabled = true; }
      fetch(form.action, {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value }
      }).then(function (response) { return response.json(); })
        .then(function (status) { show(status); if (status.notice && !status.final) { setText("message", status.notice); } })
        .catch(function () { form.submit(); });
    });
  }
  timer = setTimeout(poll, every);
}());
