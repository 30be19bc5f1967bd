// Live status of import sessions on the admin list and detail pages.
// While a session shown on the page is queued or running, this polls the
// staff-only JSON endpoint every few seconds and replaces the status, task
// state (with its progress bar), finished and duration cells in place. It
// stops once nothing on the page is active.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var live = document.getElementById("import-live");
  var cells = document.querySelectorAll(".import-cell[data-import-session]");
  var timer = null;

  document.querySelectorAll("form.import-cancel").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  });
  if (!live || !cells.length) {
    return;
  }

  function sessionIds() {
    var ids = {};
    cells.forEach(function (cell) { ids[cell.dataset.importSession] = true; });
    return Object.keys(ids);
  }
  function anyActive() {
    return Array.prototype.some.call(cells, function (cell) { return cell.dataset.active === "1"; });
  }
  function say(text) {
    live.textContent = text;
  }
  function clock() {
    return new Date().toTimeString().slice(0, 8);
  }
  function stop(reason) {
    if (timer !== null) {
      window.clearInterval(timer);
      timer = null;
    }
    if (reason) {
      say(reason);
    }
  }
  function apply(data) {
    data.sessions.forEach(function (session) {
      var selector = '.import-cell[data-import-session="' + session.id + '"]';
      document.querySelectorAll(selector).forEach(function (cell) {
        var html = session.cells[cell.dataset.cell];
        if (html !== undefined) {
          cell.innerHTML = html;
        }
        cell.dataset.active = session.active ? "1" : "0";
      });
    });
    say("updated " + clock() + (anyActive() ? "" : " \u2014 nothing running"));
    if (!anyActive()) {
      stop();
    }
  }
  function poll() {
    var url = live.dataset.statusUrl + "?ids=" + sessionIds().join(",");
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401 || response.status === 403) {
          stop("live status unavailable: not allowed (log in again)");
          return null;
        }
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (data) {
          apply(data);
        }
      })
      .catch(function (error) {
        say("update failed at " + clock() + " (" + error.message + "); retrying");
      });
  }

  if (anyActive()) {
    say("live: updates every " + Math.round(Number(live.dataset.interval) / 1000) + " s");
    timer = window.setInterval(poll, Number(live.dataset.interval) || 5000);
  }
});
