// Squadron's code editor: CodeMirror 6 over a playbook's text area, as a
// progressive enhancement. The text area stays in the form (hidden) and is
// kept in step with the editor, so the form posts exactly what it would
// without JavaScript; without this script the plain text area still works.
//
//   <textarea data-code-editor="yaml">            an editable playbook
//   <textarea data-code-editor="yaml" readonly>   shown read-only
//   <pre data-code-editor="yaml">                 shown read-only
//
// Built by `make vendor` into portal/static/vendor/codemirror/; loaded by a
// <script src> (no inline script). CodeMirror adds its styles through
// constructed style sheets (style-mod's adoptedStyleSheets) in current
// browsers. The admin is outside the portal's CSP anyway (portal/web/csp.py).

import { EditorState } from "@codemirror/state";
import {
  EditorView,
  drawSelection,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import {
  HighlightStyle,
  bracketMatching,
  foldGutter,
  foldKeymap,
  indentOnInput,
  indentUnit,
  syntaxHighlighting,
} from "@codemirror/language";
import { highlightSelectionMatches, searchKeymap } from "@codemirror/search";
import { yaml } from "@codemirror/lang-yaml";
import { tags } from "@lezer/highlight";

// Colours come from CSS variables (portal/static/css/admin.css) so that the
// stylesheet, not this bundle, decides them; each keeps 4.5:1 on the editor's
// background (axe checks the admin pages).
const highlightStyle = HighlightStyle.define([
  { tag: [tags.propertyName, tags.definition(tags.propertyName)], color: "var(--code-key)", fontWeight: "600" },
  { tag: [tags.string, tags.special(tags.string), tags.content], color: "var(--code-string)" },
  { tag: [tags.number, tags.bool, tags.null, tags.atom], color: "var(--code-atom)" },
  { tag: [tags.keyword, tags.typeName, tags.labelName, tags.meta, tags.modifier], color: "var(--code-keyword)" },
  { tag: [tags.comment, tags.lineComment, tags.blockComment], color: "var(--code-comment)", fontStyle: "italic" },
  { tag: [tags.punctuation, tags.separator, tags.squareBracket, tags.brace], color: "var(--code-punctuation)" },
  { tag: tags.invalid, color: "var(--code-invalid)", textDecoration: "underline wavy" },
]);

const theme = EditorView.theme({
  "&": {
    color: "var(--code-fg)",
    backgroundColor: "var(--code-bg)",
    border: "1px solid var(--code-border)",
    borderRadius: "6px",
    fontSize: "0.875rem",
  },
  "&.cm-focused": { outline: "3px solid var(--code-focus)", outlineOffset: "2px" },
  ".cm-scroller": { fontFamily: "var(--code-font)", lineHeight: "1.55" },
  ".cm-content": { caretColor: "var(--code-fg)" },
  ".cm-gutters": {
    backgroundColor: "var(--code-gutter-bg)",
    color: "var(--code-gutter-fg)",
    borderRight: "1px solid var(--code-border)",
  },
  ".cm-activeLine": { backgroundColor: "var(--code-active-line)" },
  ".cm-activeLineGutter": { backgroundColor: "var(--code-active-line)", color: "var(--code-fg)" },
  "&.cm-focused .cm-selectionBackground, .cm-selectionBackground, ::selection": {
    backgroundColor: "var(--code-selection)",
  },
});

function labelIds(source) {
  // The editor's content takes the text area's label and help as its own, so
  // a screen reader announces "Playbook, edit text" rather than nothing.
  const ids = { labelledBy: null, describedBy: null };
  if (source.id) {
    const label = document.querySelector(`label[for="${CSS.escape(source.id)}"]`);
    if (label) {
      label.id = label.id || `${source.id}-label`;
      ids.labelledBy = label.id;
    }
    const help = document.getElementById(`${source.id}_helptext`);
    if (help) ids.describedBy = help.id;
  }
  return ids;
}

function enhance(source) {
  if (source.dataset.codeEditorReady) return null;
  source.dataset.codeEditorReady = "true";
  const isTextArea = source instanceof HTMLTextAreaElement;
  const readOnly = !isTextArea || source.readOnly || source.disabled;
  const { labelledBy, describedBy } = labelIds(source);
  const contentAttributes = { "aria-multiline": "true" };
  if (labelledBy) contentAttributes["aria-labelledby"] = labelledBy;
  else contentAttributes["aria-label"] = source.getAttribute("aria-label") || "Playbook";
  if (describedBy) contentAttributes["aria-describedby"] = describedBy;
  if (readOnly) contentAttributes["aria-readonly"] = "true";

  const extensions = [
    lineNumbers(),
    foldGutter(),
    highlightSpecialChars(),
    drawSelection(),
    highlightActiveLineGutter(),
    highlightActiveLine(),
    highlightSelectionMatches(),
    bracketMatching(),
    syntaxHighlighting(highlightStyle),
    yaml(),
    indentUnit.of("  "),
    EditorState.tabSize.of(2),
    theme,
    EditorView.contentAttributes.of(contentAttributes),
    // Read-only stays focusable and selectable (copy a line, scroll with the
    // keyboard); only changes are refused.
    EditorState.readOnly.of(readOnly),
  ];
  if (!readOnly) {
    extensions.push(
      history(),
      indentOnInput(),
      // Tab indents, as in any code editor; Escape then Tab (or Ctrl-M)
      // leaves the editor, so keyboard users are never trapped.
      keymap.of([indentWithTab, ...defaultKeymap, ...historyKeymap, ...searchKeymap, ...foldKeymap]),
      EditorView.updateListener.of((update) => {
        if (update.docChanged) {
          source.value = update.state.doc.toString();
          source.dispatchEvent(new Event("input", { bubbles: true }));
        }
      }),
    );
  } else {
    extensions.push(keymap.of([...defaultKeymap, ...searchKeymap, ...foldKeymap]));
  }

  const doc = isTextArea ? source.value : source.textContent;
  const view = new EditorView({ state: EditorState.create({ doc, extensions }) });
  view.dom.classList.add("code-editor");
  if (source.rows) view.dom.style.setProperty("--code-rows", String(source.rows));
  source.after(view.dom);
  // Hidden, not removed: the form still posts the text area.
  source.hidden = true;
  source.classList.add("code-editor-source");
  if (labelledBy) {
    // The label pointed at the hidden text area: a click on it now focuses the editor.
    document.getElementById(labelledBy).addEventListener("click", (event) => {
      event.preventDefault();
      view.focus();
    });
  }
  if (isTextArea && !readOnly && source.form) {
    // Belt and braces: the listener above already keeps it in step.
    source.form.addEventListener("submit", () => {
      source.value = view.state.doc.toString();
    });
  }
  source.codeEditor = view;
  return view;
}

function enhanceAll(root = document) {
  root.querySelectorAll("[data-code-editor]").forEach(enhance);
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", () => enhanceAll());
} else {
  enhanceAll();
}

window.SquadronCodeEditor = { enhance, enhanceAll };
