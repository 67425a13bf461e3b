/* The order-form designer on a product's admin page.
 *
 * Progressive enhancement over the "Order form (JSON Schema)" box: without
 * this script the box is the whole editor and saving checks it. With it, the
 * curator edits a list of fields (name, title, type, required, default, help,
 * bounds, pattern, choices, secret, condition) that writes the JSON Schema
 * into the same box, and editing the box re-reads the list: both stay one
 * form. As either changes, the draft is posted to the admin's preview
 * endpoint, which answers with the order form customers would see (built by
 * the portal's own form code), where the JSON is broken (line, column), the
 * schema problems by field and the warnings against the runbook's playbook.
 * Nothing is saved until the page is.
 *
 * No inline script or style: loaded by the product admin's Media. Keywords
 * the designer does not edit (formats, widgets, choices from other sources)
 * are kept as they are.
 */
(function () {
  "use strict";

  function start() {
    var textarea = document.getElementById("id_form_schema");
    var checks = document.getElementById("form-designer-checks");
    if (!textarea || !checks || !window.fetch) {
      return;
    }

    var TYPES = [
      ["string", "Text"],
      ["integer", "Whole number"],
      ["number", "Number"],
      ["boolean", "Yes / no"],
      ["array", "Several of a list"]
    ];
    /* Keywords that only mean something for some types: dropped when a
     * field changes type, so the schema never says what its type refuses. */
    var TYPED_KEYS = ["enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
      "minLength", "maxLength", "pattern", "format", "x-secret", "x-widget", "items", "minItems",
      "maxItems", "uniqueItems", "default"];
    var DEBOUNCE_MS = 350;

    var state = { fields: [], rest: {}, otherConditions: [], valid: true };
    var counter = 0;
    var timer = null;
    var inFlight = null;
    var sequence = 0;

    // ---- Reading and writing the schema ------------------------------------

    function isObject(value) {
      return value !== null && typeof value === "object" && !Array.isArray(value);
    }

    /* A condition the designer writes: allOf: [{if: {properties: {X: {const:
     * V}}, required: [X]}, then: {required: [name]} or {properties: {name:
     * {}}}}]. Any other condition is kept untouched. */
    function readCondition(item) {
      if (!isObject(item) || !isObject(item.if) || !isObject(item.then) || "else" in item) {
        return null;
      }
      var props = item.if.properties;
      if (!isObject(props) || Object.keys(props).length !== 1) {
        return null;
      }
      var on = Object.keys(props)[0];
      if (!isObject(props[on]) || !("const" in props[on]) || Object.keys(props[on]).length !== 1) {
        return null;
      }
      var then = item.then;
      var target = null;
      var required = false;
      if (Array.isArray(then.required) && then.required.length === 1 && Object.keys(then).length === 1) {
        target = then.required[0];
        required = true;
      } else if (isObject(then.properties) && Object.keys(then.properties).length === 1 &&
          Object.keys(then).length === 1) {
        target = Object.keys(then.properties)[0];
        if (!isObject(then.properties[target]) || Object.keys(then.properties[target]).length) {
          return null;
        }
      }
      return target === null ? null : { target: target, on: on, value: props[on].const, required: required };
    }

    function fromSchema(schema) {
      var properties = isObject(schema.properties) ? schema.properties : {};
      var required = Array.isArray(schema.required) ? schema.required : [];
      var conditions = {};
      var others = [];
      (Array.isArray(schema.allOf) ? schema.allOf : []).forEach(function (item) {
        var condition = readCondition(item);
        if (condition && properties[condition.target] && !conditions[condition.target]) {
          conditions[condition.target] = condition;
        } else {
          others.push(item);
        }
      });
      state.fields = Object.keys(properties).map(function (name) {
        var condition = conditions[name];
        return {
          key: ++counter,
          name: name,
          spec: isObject(properties[name]) ? JSON.parse(JSON.stringify(properties[name])) : {},
          required: required.indexOf(name) !== -1 || Boolean(condition && condition.required),
          condition: condition ? { on: condition.on, value: condition.value } : null
        };
      });
      state.otherConditions = others;
      state.rest = {};
      Object.keys(schema).forEach(function (key) {
        if (["type", "properties", "required", "allOf"].indexOf(key) === -1) {
          state.rest[key] = schema[key];
        }
      });
    }

    function toSchema() {
      var schema = { type: "object" };
      Object.keys(state.rest).forEach(function (key) { schema[key] = state.rest[key]; });
      var properties = {};
      var required = [];
      var conditions = state.otherConditions.slice();
      state.fields.forEach(function (field) {
        properties[field.name] = field.spec;
        if (field.condition && field.condition.on) {
          var when = { properties: {}, required: [field.condition.on] };
          when.properties[field.condition.on] = { "const": field.condition.value };
          var then = field.required ? { required: [field.name] } : { properties: {} };
          if (!field.required) {
            then.properties[field.name] = {};
          }
          conditions.push({ "if": when, then: then });
        } else if (field.required) {
          required.push(field.name);
        }
      });
      if (required.length) {
        schema.required = required;
      }
      schema.properties = properties;
      if (conditions.length) {
        schema.allOf = conditions;
      }
      return schema;
    }

    function writeJson() {
      textarea.value = JSON.stringify(toSchema(), null, 2);
      state.valid = true;
      refresh();
    }

    // ---- Building the field list --------------------------------------------

    function element(tag, attrs, children) {
      var node = document.createElement(tag);
      Object.keys(attrs || {}).forEach(function (name) {
        if (name === "text") {
          node.textContent = attrs[name];
        } else {
          node.setAttribute(name, attrs[name]);
        }
      });
      (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
      return node;
    }

    function coerce(text, kind) {
      if (kind === "integer" && /^-?\d+$/.test(text.trim())) {
        return parseInt(text, 10);
      }
      if (kind === "number" && text.trim() !== "" && isFinite(Number(text))) {
        return Number(text);
      }
      return text;
    }

    function setKey(spec, key, value) {
      if (value === "" || value === null || value === undefined) {
        delete spec[key];
      } else {
        spec[key] = value;
      }
    }

    /* One labelled control writing spec[key] (or field[prop]) as typed. */
    function control(field, label, key, options) {
      options = options || {};
      var id = "designer-" + field.key + "-" + key.replace(/[^a-z]/gi, "");
      var current = options.read ? options.read() : field.spec[key];
      var input;
      if (options.kind === "checkbox") {
        input = element("input", { type: "checkbox", id: id });
        input.checked = Boolean(current);
      } else if (options.kind === "textarea") {
        input = element("textarea", { id: id, rows: options.rows || "2" });
        input.value = current === undefined ? "" : current;
      } else if (options.kind === "select") {
        input = element("select", { id: id });
        options.choices.forEach(function (choice) {
          var option = element("option", { value: choice[0], text: choice[1] });
          if (String(current) === choice[0]) {
            option.selected = true;
          }
          input.appendChild(option);
        });
      } else {
        input = element("input", { type: options.kind || "text", id: id });
        if (options.kind === "number") {
          input.setAttribute("step", "any");
        }
        input.value = current === undefined ? "" : current;
      }
      input.dataset.designerKey = key;
      input.addEventListener(options.kind === "checkbox" || options.kind === "select" ? "change" : "input",
        function () {
          var value = options.kind === "checkbox" ? input.checked : input.value;
          if (options.write) {
            options.write(value);
          } else if (options.kind === "checkbox") {
            setKey(field.spec, key, value ? true : "");
          } else if (options.kind === "number") {
            setKey(field.spec, key, value === "" ? "" : coerce(value, "number"));
          } else {
            setKey(field.spec, key, value);
          }
          writeJson();
          if (options.rerender) {
            render();
          }
        });
      var wrapper = element("div", { "class": "designer-control designer-" + (options.kind || "text") });
      var labelNode = element("label", { "for": id, text: label });
      if (options.kind === "checkbox") {
        wrapper.appendChild(input);
        wrapper.appendChild(labelNode);
      } else {
        wrapper.appendChild(labelNode);
        wrapper.appendChild(input);
      }
      if (options.help) {
        wrapper.appendChild(element("span", { "class": "designer-help", text: options.help }));
      }
      return wrapper;
    }

    function renameField(field, name) {
      var old = field.name;
      state.fields.forEach(function (other) {
        if (other.condition && other.condition.on === old) {
          other.condition.on = name;
        }
      });
      field.name = name;
    }

    function changeType(field, kind) {
      TYPED_KEYS.forEach(function (key) { delete field.spec[key]; });
      field.spec.type = kind;
      if (kind === "array") {
        field.spec.items = { type: "string", "enum": ["first", "second"] };
      }
    }

    function choicesOf(field) {
      var list = field.spec.type === "array" ? (field.spec.items || {}).enum : field.spec.enum;
      return Array.isArray(list) ? list.join("\n") : "";
    }

    function writeChoices(field, text) {
      var values = text.split("\n").map(function (line) { return line.trim(); })
        .filter(function (line) { return line !== ""; })
        .map(function (line) { return coerce(line, field.spec.type); });
      if (field.spec.type === "array") {
        field.spec.items = { type: "string", "enum": values };
      } else {
        setKey(field.spec, "enum", values.length ? values : "");
      }
    }

    function defaultControl(field) {
      var kind = field.spec.type;
      if (kind === "array") {
        return null;
      }
      if (kind === "boolean") {
        return control(field, "Default", "default", {
          kind: "select",
          choices: [["", "(none)"], ["true", "Yes"], ["false", "No"]],
          read: function () { return field.spec.default === undefined ? "" : String(field.spec.default); },
          write: function (value) { setKey(field.spec, "default", value === "" ? "" : value === "true"); }
        });
      }
      return control(field, "Default", "default", {
        write: function (value) { setKey(field.spec, "default", value === "" ? "" : coerce(value, kind)); }
      });
    }

    function conditionChoices(field) {
      var others = state.fields.filter(function (other) {
        return other !== field && other.spec.type !== "array";
      });
      return [["", "(always shown)"]].concat(others.map(function (other) {
        return [other.name, other.spec.title || other.name];
      }));
    }

    function refreshConditionChoices() {
      var boxes = list.querySelectorAll(".designer-field");
      state.fields.forEach(function (field, index) {
        var select = boxes[index] && boxes[index].querySelector("[data-designer-key='condition-on']");
        if (!select) {
          return;
        }
        select.textContent = "";
        conditionChoices(field).forEach(function (choice) {
          var option = element("option", { value: choice[0], text: choice[1] });
          option.selected = Boolean(field.condition) && field.condition.on === choice[0];
          select.appendChild(option);
        });
      });
    }

    function conditionControls(field) {
      var choices = conditionChoices(field);
      var condition = field.condition || { on: "", value: "" };
      var on = control(field, "Show only when", "condition-on", {
        kind: "select",
        choices: choices,
        read: function () { return condition.on; },
        write: function (value) {
          field.condition = value ? { on: value, value: field.condition ? field.condition.value : "" } : null;
        },
        rerender: true
      });
      if (!field.condition) {
        return [on];
      }
      var target = state.fields.filter(function (other) { return other.name === field.condition.on; })[0];
      var kind = target ? target.spec.type : "string";
      var value = control(field, "is", "condition-value", {
        read: function () { return String(field.condition.value); },
        write: function (text) {
          field.condition.value = kind === "boolean" ? text === "true" : coerce(text, kind);
        },
        help: kind === "boolean" ? "true or false" : ""
      });
      return [on, value];
    }

    function fieldEditor(field, index) {
      var kind = field.spec.type;
      var box = element("fieldset", { "class": "designer-field", "data-field": field.name });
      var legend = element("legend", { text: "Field " + (index + 1) + (field.name ? ": " + field.name : "") });
      box.appendChild(legend);
      var grid = element("div", { "class": "designer-grid" });
      var nameControl = control(field, "Name", "name", {
        read: function () { return field.name; },
        write: function (value) {
          renameField(field, value.trim());
          box.dataset.field = field.name;
          legend.textContent = "Field " + (index + 1) + ": " + field.name;
        },
        help: "What the playbook receives it as: letters, digits and _."
      });
      // Other fields' conditions list this name: show the new one once typed
      // (in place: rebuilding the list would pull the next input from under
      // the curator's cursor).
      nameControl.querySelector("input").addEventListener("change", refreshConditionChoices);
      grid.appendChild(nameControl);
      grid.appendChild(control(field, "Title", "title", { help: "What the customer reads." }));
      grid.appendChild(control(field, "Type", "type", {
        kind: "select",
        choices: TYPES,
        write: function (value) { changeType(field, value); },
        rerender: true
      }));
      grid.appendChild(control(field, "Required", "required", {
        kind: "checkbox",
        read: function () { return field.required; },
        write: function (value) { field.required = value; }
      }));
      box.appendChild(grid);
      box.appendChild(control(field, "Help", "description", { kind: "textarea", help: "Markdown; shown under the title." }));
      var bounds = element("div", { "class": "designer-grid" });
      var defaultNode = defaultControl(field);
      if (defaultNode) {
        bounds.appendChild(defaultNode);
      }
      if (kind === "integer" || kind === "number") {
        bounds.appendChild(control(field, "Minimum", "minimum", { kind: "number" }));
        bounds.appendChild(control(field, "Maximum", "maximum", { kind: "number" }));
      }
      if (kind === "string") {
        bounds.appendChild(control(field, "Min length", "minLength", { kind: "number" }));
        bounds.appendChild(control(field, "Max length", "maxLength", { kind: "number" }));
        bounds.appendChild(control(field, "Pattern", "pattern", { help: "A regular expression (RE2)." }));
        bounds.appendChild(control(field, "Secret", "x-secret", { kind: "checkbox" }));
      }
      box.appendChild(bounds);
      if (kind !== "boolean") {
        box.appendChild(control(field, kind === "array" ? "Choices" : "Choices (optional)", "enum", {
          kind: "textarea",
          rows: "3",
          read: function () { return choicesOf(field); },
          write: function (text) { writeChoices(field, text); },
          help: "One per line; the customer picks from them."
        }));
      }
      var condition = element("div", { "class": "designer-grid designer-condition" });
      conditionControls(field).forEach(function (node) { condition.appendChild(node); });
      box.appendChild(condition);
      box.appendChild(element("ul", { "class": "designer-problems", "aria-live": "polite" }));
      var tools = element("div", { "class": "designer-tools" });
      [["Move up", -1], ["Move down", 1]].forEach(function (move) {
        var button = element("button", { type: "button", "class": "button", text: move[0] });
        var target = index + move[1];
        button.disabled = target < 0 || target >= state.fields.length;
        button.addEventListener("click", function () {
          state.fields.splice(index, 1);
          state.fields.splice(target, 0, field);
          writeJson();
          render();
        });
        tools.appendChild(button);
      });
      var remove = element("button", { type: "button", "class": "button designer-remove", text: "Remove field" });
      remove.addEventListener("click", function () {
        state.fields.splice(index, 1);
        state.fields.forEach(function (other) {
          if (other.condition && other.condition.on === field.name) {
            other.condition = null;
          }
        });
        writeJson();
        render();
      });
      tools.appendChild(remove);
      box.appendChild(tools);
      return box;
    }

    function freeName() {
      var taken = state.fields.map(function (field) { return field.name; });
      var number = state.fields.length + 1;
      while (taken.indexOf("field_" + number) !== -1) {
        number += 1;
      }
      return "field_" + number;
    }

    // ---- The page ----------------------------------------------------------

    var designer = element("div", { "class": "designer", id: "form-designer" });
    var fieldsPanel = element("section", { "class": "designer-fields", "aria-labelledby": "designer-fields-heading" });
    fieldsPanel.appendChild(element("h3", { id: "designer-fields-heading", text: "Fields" }));
    var list = element("div", { "class": "designer-list" });
    var stale = element("p", { "class": "designer-stale", hidden: "hidden",
      text: "The JSON cannot be read: fix it on the right to edit the fields here again." });
    var add = element("button", { type: "button", "class": "button designer-add", text: "Add a field" });
    fieldsPanel.appendChild(stale);
    fieldsPanel.appendChild(list);
    fieldsPanel.appendChild(add);

    var side = element("div", { "class": "designer-side" });
    var raw = element("section", { "class": "designer-raw", "aria-labelledby": "designer-raw-heading" });
    raw.appendChild(element("h3", { id: "designer-raw-heading", text: "JSON Schema" }));
    var jsonError = element("p", { "class": "designer-json-error", id: "form-designer-json-error",
      role: "alert", hidden: "hidden" });
    var formProblems = element("ul", { "class": "designer-problems designer-form-problems" });
    var previewPanel = element("section", { "class": "designer-preview-panel",
      "aria-labelledby": "designer-preview-heading" });
    previewPanel.appendChild(element("h3", { id: "designer-preview-heading", text: "Preview: the form customers see" }));
    var previewNote = element("p", { "class": "designer-help", hidden: "hidden",
      text: "Showing the last form that could be built: fix the problems to see the changes." });
    var previewHost = element("div", { "class": "designer-preview", id: "form-designer-preview" });
    previewPanel.appendChild(previewNote);
    previewPanel.appendChild(previewHost);
    var shadow = previewHost.attachShadow ? previewHost.attachShadow({ mode: "open" }) : previewHost;
    var previewStyle = checks.dataset.previewCss;

    function install() {
      var row = textarea.closest(".form-row") || textarea.parentNode;
      row.classList.add("designer-row");
      textarea.setAttribute("aria-describedby", "form-designer-json-error");
      raw.appendChild(jsonError);
      raw.appendChild(formProblems);
      textarea.parentNode.insertBefore(designer, textarea);
      raw.insertBefore(textarea, jsonError);
      // The checks are short and the preview grows with the form: checks
      // first, so they stay in sight.
      side.appendChild(raw);
      side.appendChild(checks);
      side.appendChild(previewPanel);
      designer.appendChild(fieldsPanel);
      designer.appendChild(side);
    }

    function render() {
      // Rebuilt whole: keep the focus where the curator was (ids are stable).
      var focused = document.activeElement && document.activeElement.id;
      list.textContent = "";
      state.fields.forEach(function (field, index) { list.appendChild(fieldEditor(field, index)); });
      if (!state.fields.length) {
        list.appendChild(element("p", { "class": "designer-help",
          text: "No fields yet: the product is ordered without any details. Add a field to ask for one." }));
      }
      stale.hidden = state.valid;
      list.hidden = !state.valid;
      add.disabled = !state.valid;
      var again = focused && document.getElementById(focused);
      if (again && again !== document.activeElement) {
        again.focus();
      }
    }

    add.addEventListener("click", function () {
      state.fields.push({ key: ++counter, name: freeName(), spec: { type: "string", title: "New field" },
        required: false, condition: null });
      writeJson();
      render();
      var last = list.querySelector(".designer-field:last-of-type input");
      if (last) {
        last.focus();
        last.select();
      }
    });

    textarea.addEventListener("input", function () {
      var text = textarea.value.trim() === "" ? "{}" : textarea.value;
      try {
        var schema = JSON.parse(text);
        if (isObject(schema)) {
          fromSchema(schema);
          state.valid = true;
        } else {
          state.valid = false;
        }
      } catch (error) {
        state.valid = false;
      }
      render();
      refresh();
    });

    ["id_runbook", "id_name"].forEach(function (id) {
      var input = document.getElementById(id);
      if (input) {
        input.addEventListener("change", refresh);
      }
    });

    // ---- Talking to the preview endpoint -----------------------------------

    function refresh() {
      window.clearTimeout(timer);
      timer = window.setTimeout(send, DEBOUNCE_MS);
    }

    function csrfToken() {
      var input = document.querySelector("input[name=csrfmiddlewaretoken]");
      return input ? input.value : "";
    }

    function send() {
      var body = new FormData();
      body.append("schema", textarea.value);
      var runbook = document.getElementById("id_runbook");
      var name = document.getElementById("id_name");
      body.append("runbook", runbook ? runbook.value : "");
      body.append("name", name ? name.value : "");
      if (inFlight) {
        inFlight.abort();
      }
      inFlight = window.AbortController ? new AbortController() : null;
      var mine = ++sequence;
      designer.setAttribute("aria-busy", "true");
      fetch(checks.dataset.previewUrl, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken() },
        signal: inFlight ? inFlight.signal : undefined
      }).then(function (response) {
        if (!response.ok) {
          throw new Error("The preview could not be built (" + response.status + ").");
        }
        return response.json();
      }).then(function (answer) {
        if (mine === sequence) {
          show(answer);
        }
      }).catch(function (error) {
        if (error.name !== "AbortError" && mine === sequence) {
          showProblems([{ field: null, message: error.message, path: "" }]);
        }
      }).then(function () {
        if (mine === sequence) {
          designer.removeAttribute("aria-busy");
          designer.dataset.previewed = String(mine);
        }
      });
    }

    function show(answer) {
      if (answer.json_error) {
        var where = answer.json_error;
        jsonError.textContent = "Line " + where.line + ", column " + where.column + ": " + where.message;
        jsonError.hidden = false;
        textarea.classList.add("designer-invalid");
      } else {
        jsonError.hidden = true;
        jsonError.textContent = "";
        textarea.classList.remove("designer-invalid");
      }
      showProblems(answer.problems || []);
      showWarnings(answer, answer.json_error || (answer.problems || []).length);
      if (answer.usable) {
        shadow.innerHTML = (previewStyle ? '<link rel="stylesheet" href="' + previewStyle + '">' : "") +
          answer.preview;
        previewNote.hidden = true;
      } else {
        previewNote.hidden = false;
      }
    }

    function showProblems(problems) {
      list.querySelectorAll(".designer-problems").forEach(function (node) { node.textContent = ""; });
      list.querySelectorAll(".designer-has-problem").forEach(function (node) {
        node.classList.remove("designer-has-problem");
      });
      formProblems.textContent = "";
      problems.forEach(function (problem) {
        var target = null;
        list.querySelectorAll(".designer-field").forEach(function (box) {
          if (problem.field !== null && box.dataset.field === problem.field) {
            target = box;
          }
        });
        var item = element("li", { text: problem.message });
        if (target) {
          target.classList.add("designer-has-problem");
          target.querySelector(".designer-problems").appendChild(item);
          var input = problem.keyword && target.querySelector("[data-designer-key='" + problem.keyword + "']");
          if (input) {
            input.setAttribute("aria-invalid", "true");
          }
        } else {
          formProblems.appendChild(item);
        }
      });
    }

    function showWarnings(answer, broken) {
      var target = document.getElementById("form-designer-warnings");
      if (!target || broken) {
        return;
      }
      var warnings = answer.warnings || [];
      target.textContent = "";
      if (!warnings.length) {
        target.appendChild(element("li", { "class": "designer-none", text: answer.checked
          ? "No warnings: the playbook reads every field, and reads nothing the form lacks."
          : "Checked once the product names a runbook with a playbook." }));
      }
      warnings.forEach(function (warning) {
        target.appendChild(element("li", { text: warning }));
      });
    }

    install();
    textarea.dispatchEvent(new Event("input"));
  }

  // Loaded in the page's head (the admin's Media): start once the form exists.
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
