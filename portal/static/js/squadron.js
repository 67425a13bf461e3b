/* Squadron's few behaviours in the browser. Every page works without them;
 * they make it nicer: confirmations, no double submission, and a run log
 * that follows new output like `tail -f` until the reader scrolls up.
 *
 * Loaded as a static file: the pages carry a Content-Security-Policy
 * without 'unsafe-inline', so there is no inline script or handler anywhere.
 */
(function () {
  "use strict";

  /* A log keeps at most this many events in the page; older ones are dropped
   * from the top (and can be loaded again) so a long live run never makes the
   * page heavy. */
  var MAX_LOG_EVENTS = 3000;
  /* Pixels from the bottom that still count as "at the end". */
  var STICK_SLACK = 24;

  // Order forms carry no pattern to check here: a squad's regular expression
  // is run by the server only, with a non-backtracking engine (RE2). The
  // browser's engine backtracks, so a pattern such as ^(a|aa)*$ could freeze
  // the page (see portal/forms.py).

  // --- Confirmations and single submission ------------------------------------
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    if ((form.getAttribute("method") || "get").toLowerCase() !== "post") {
      return;
    }
    if (form.dataset.submitting) {
      event.preventDefault(); // a second click while the first is on its way
      return;
    }
    form.dataset.submitting = "1";
    // After this turn, so the clicked button's name and value are still sent.
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.disabled = true;
      });
    }, 0);
  });

  // Back-forward cache: a page restored after submitting must be usable again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) {
      return;
    }
    document.querySelectorAll("form[data-submitting]").forEach(function (form) {
      delete form.dataset.submitting;
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.disabled = false;
      });
    });
  });

  // A secret shown once (a new API token, a webhook's signing secret): its
  // Copy button copies the field named by data-copy and says it did.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-copy]") : null;
    if (!button) {
      return;
    }
    var field = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById(button.getAttribute("aria-describedby") || "");
    if (!field) {
      return;
    }
    function said(text) {
      if (status) {
        status.textContent = text;
      }
    }
    function fallback() {
      field.select();
      said(document.execCommand("copy") ? "Copied." : "Select it and copy it by hand.");
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () {
        said("Copied.");
      }, fallback);
    } else {
      fallback();
    }
  });

  document.addEventListener("change", function (event) {
    var form = event.target.form;
    if (form && form.hasAttribute("data-autosubmit") && event.target.tagName === "SELECT") {
      form.requestSubmit();
    }
  });

  // --- Navigation menu ---------------------------------------------------------------
  /* Below about 1,500 px (see squadron.css) the navigation folds behind a
   * disclosure button. The button is in the page hidden: only this script
   * shows it, so without script the links are simply all there. */
  var menuButton = document.querySelector(".menu-toggle");
  var menu = menuButton ? document.getElementById(menuButton.getAttribute("aria-controls")) : null;

  function setMenuOpen(open) {
    menuButton.setAttribute("aria-expanded", open ? "true" : "false");
    menu.classList.toggle("open", open);
  }

  if (menuButton && menu) {
    document.documentElement.classList.add("has-menu");
    menuButton.hidden = false;
    menuButton.addEventListener("click", function () {
      setMenuOpen(menuButton.getAttribute("aria-expanded") !== "true");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && menuButton.getAttribute("aria-expanded") === "true") {
        setMenuOpen(false);
        menuButton.focus();
      }
    });
  }

  // --- Sortable tables (insights) -------------------------------------------------
  /* A table marked data-sortable gets a button in each column header; a click
   * sorts its rows by that column, ascending then descending, and aria-sort
   * says which way. Cells sort by their data-sort value (the raw number or
   * time) when they have one, else by their text. */
  function sortKey(cell) {
    if (!cell) {
      return "";
    }
    var raw = cell.getAttribute("data-sort");
    if (raw !== null && raw !== "" && !isNaN(Number(raw))) {
      return Number(raw);
    }
    return raw !== null && raw !== "" ? raw : cell.textContent.trim();
  }

  function compareKeys(first, second) {
    var firstNumber = typeof first === "number";
    var secondNumber = typeof second === "number";
    if (firstNumber && secondNumber) {
      return first - second;
    }
    if (firstNumber !== secondNumber) {
      return firstNumber ? -1 : 1; // a value before "—"
    }
    return String(first).localeCompare(String(second), undefined, { numeric: true, sensitivity: "base" });
  }

  function sortTable(table, header, column) {
    var descending = header.getAttribute("aria-sort") === "ascending";
    table.querySelectorAll("thead th").forEach(function (other) {
      other.removeAttribute("aria-sort");
    });
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (first, second) {
      var order = compareKeys(sortKey(first.cells[column]), sortKey(second.cells[column]));
      return descending ? -order : order;
    });
    rows.forEach(function (row) {
      body.appendChild(row);
    });
  }

  function initSortable(table) {
    if (table.dataset.sortReady || !table.tBodies.length) {
      return;
    }
    table.dataset.sortReady = "1";
    table.querySelectorAll("thead th").forEach(function (header, column) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort-button";
      while (header.firstChild) {
        button.appendChild(header.firstChild);
      }
      header.appendChild(button);
      button.addEventListener("click", function () {
        sortTable(table, header, column);
      });
    });
  }

  // --- Run log -------------------------------------------------------------------
  function atBottom(log) {
    return log.scrollHeight - log.scrollTop - log.clientHeight <= STICK_SLACK;
  }

  function followButton(log) {
    var frame = log.closest(".log-frame");
    return frame ? frame.querySelector("[data-log-follow]") : null;
  }

  function setFollowing(log, following) {
    log.dataset.following = following ? "1" : "";
    var button = followButton(log);
    if (button) {
      button.hidden = following;
    }
  }

  function scrollToEnd(log) {
    log.scrollTop = log.scrollHeight;
    log._lastTop = log.scrollTop;
    log._lastHeight = log.scrollHeight;
  }

  function earlierButtonFor(log, beforeCounter) {
    var url = log.getAttribute("data-earlier-url");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "log-earlier";
    button.setAttribute("data-log-earlier", "");
    button.setAttribute("hx-get", url + "?before=" + beforeCounter);
    button.setAttribute("hx-swap", "outerHTML");
    button.textContent = "Show earlier output";
    return button;
  }

  /* Drop the oldest events beyond MAX_LOG_EVENTS, leaving a button that
   * loads them again from where the page now starts. */
  function trim(log) {
    var events = log.querySelectorAll(":scope > .ev");
    var extra = events.length - MAX_LOG_EVENTS;
    if (extra <= 0 || !log.getAttribute("data-earlier-url")) {
      return;
    }
    for (var index = 0; index < extra; index += 1) {
      events[index].remove();
    }
    var first = log.querySelector(":scope > .ev");
    log.querySelectorAll(":scope > [data-log-earlier], :scope > .log-start").forEach(function (node) {
      node.remove();
    });
    var button = earlierButtonFor(log, first.getAttribute("data-counter"));
    log.insertBefore(button, log.firstChild);
    if (window.htmx) {
      window.htmx.process(button);
    }
  }

  function onLogChanged(log, records) {
    var appended = records.some(function (record) {
      return record.addedNodes.length && record.nextSibling === null;
    });
    if (log.dataset.following) {
      if (appended) {
        trim(log);
      }
      scrollToEnd(log);
      return;
    }
    if (!appended && log._lastHeight !== undefined) {
      // Earlier output was put above: keep the lines the reader was reading in place.
      log.scrollTop = log._lastTop + (log.scrollHeight - log._lastHeight);
    }
    log._lastTop = log.scrollTop;
    log._lastHeight = log.scrollHeight;
  }

  function initLog(log) {
    if (log.dataset.logReady) {
      return;
    }
    log.dataset.logReady = "1";
    var run = log.getAttribute("data-run");
    var earlier = log.querySelector("[data-log-earlier]");
    if (!log.getAttribute("data-earlier-url") && earlier) {
      log.setAttribute("data-earlier-url", earlier.getAttribute("hx-get").split("?")[0]);
    }
    var isCurrent = log.closest(".attempt-current") !== null;
    setFollowing(log, isCurrent);
    if (isCurrent) {
      scrollToEnd(log);
    }
    log.addEventListener("scroll", function () {
      setFollowing(log, atBottom(log));
      log._lastTop = log.scrollTop;
      log._lastHeight = log.scrollHeight;
    }, { passive: true });
    new MutationObserver(function (records) {
      onLogChanged(log, records);
    }).observe(log, { childList: true });
    var button = followButton(log);
    if (button) {
      button.addEventListener("click", function () {
        setFollowing(log, true);
        scrollToEnd(log);
        log.focus();
      });
    }
    log.dataset.runId = run || "";
  }


  // --- Conditional fields -------------------------------------------------------
  // An order form with data-conditions shows a conditional field only while a
  // condition that names it holds (catalogue/conditions.py decides the same
  // on the server, which drops a hidden field's value whatever is sent). A
  // hidden field's controls are disabled, so the browser does not send them.
  function fieldValue(form, name, type) {
    var controls = form.querySelectorAll('[name="inputs-' + name + '"]');
    if (!controls.length) {
      return undefined;
    }
    var control = controls[0];
    if (type === "boolean") {
      return control.checked;
    }
    if (control.value === "") {
      return undefined;
    }
    if (type === "integer" || type === "number") {
      var number = Number(control.value);
      return isNaN(number) ? control.value : number;
    }
    return control.value;
  }

  function testHolds(test, values) {
    var properties = test.properties || {};
    var required = test.required || [];
    for (var i = 0; i < required.length; i++) {
      if (values[required[i]] === undefined) {
        return false;
      }
    }
    return Object.keys(properties).every(function (name) {
      var value = values[name];
      var check = properties[name];
      if (value === undefined) {
        return true; // JSON Schema: a property that is absent passes its test
      }
      if ("const" in check) {
        return value === check["const"];
      }
      return (check["enum"] || []).indexOf(value) !== -1;
    });
  }

  function applyConditions(form) {
    var spec = JSON.parse(form.getAttribute("data-conditions"));
    var hidden = {};
    // Until nothing changes: a field shown by a hidden field is hidden too.
    for (var round = 0; round <= spec.fields.length; round++) {
      var values = {};
      Object.keys(spec.types).forEach(function (name) {
        if (!hidden[name]) {
          values[name] = fieldValue(form, name, spec.types[name]);
        }
      });
      var now = {};
      spec.fields.forEach(function (field) {
        var shown = field.when.some(function (when) {
          return testHolds(when["if"], values) === when.holds;
        });
        if (!shown) {
          now[field.field] = true;
        }
      });
      var same = Object.keys(now).length === Object.keys(hidden).length &&
        Object.keys(now).every(function (name) { return hidden[name]; });
      hidden = now;
      if (same) {
        break;
      }
    }
    spec.fields.forEach(function (field) {
      var box = form.querySelector('[data-field="' + field.field + '"]');
      if (!box) {
        return;
      }
      var hide = Boolean(hidden[field.field]);
      box.hidden = hide;
      box.querySelectorAll("input, select, textarea").forEach(function (control) {
        control.disabled = hide;
      });
    });
  }

  function initConditions(form) {
    // Once per form: the page is initialised on DOMContentLoaded and again by
    // HTMX's first htmx:load on the body, and twice the listeners would weigh
    // every keystroke twice.
    if (form.dataset.conditionsReady) {
      return;
    }
    form.dataset.conditionsReady = "1";
    applyConditions(form);
    form.addEventListener("input", function () { applyConditions(form); });
    form.addEventListener("change", function () { applyConditions(form); });
  }

  function init(root) {
    var scope = root && root.querySelectorAll ? root : document;
    if (scope.matches && scope.matches("[data-log]")) {
      initLog(scope);
    }
    scope.querySelectorAll("[data-log]").forEach(initLog);
    scope.querySelectorAll("table[data-sortable]").forEach(initSortable);
    if (scope.matches && scope.matches("form[data-conditions]")) {
      initConditions(scope);
    }
    scope.querySelectorAll("form[data-conditions]").forEach(initConditions);
  }

  document.addEventListener("DOMContentLoaded", function () {
    init(document);
    var summary = document.querySelector("[data-focus-on-load]");
    if (summary) {
      summary.focus();
    }
  });
  // A poller whose order is gone (404) stops; other errors are retried by the next poll.
  document.addEventListener("htmx:responseError", function (event) {
    var source = event.detail.elt;
    if (source && source.hasAttribute("hx-trigger") && event.detail.xhr.status === 404) {
      source.remove();
    }
  });

  // Content that HTMX puts in the page (a new attempt's log, fresh results).
  document.addEventListener("htmx:load", function (event) {
    init(event.detail.elt);
  });
})();
