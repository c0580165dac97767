// The practice page's code editor: CodeMirror 6 set up for Python, bundled by esbuild
// (`make install`) into src/gradeflow/web/static/build/editor.js. It exposes one
// function, `window.GradeflowEditor.create(textarea, options)`; app.js uses it when
// the bundle loaded and keeps the plain textarea when it did not.
import { closeBrackets, closeBracketsKeymap } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { python } from "@codemirror/lang-python";
import {
  bracketMatching,
  defaultHighlightStyle,
  indentOnInput,
  indentUnit,
  syntaxHighlighting,
} from "@codemirror/language";
import { EditorState, StateEffect, StateField } from "@codemirror/state";
import {
  Decoration,
  EditorView,
  drawSelection,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
} from "@codemirror/view";

// The line of the student's code that an error was reported on (or null to clear).
const setProblemLine = StateEffect.define();

const problemLine = StateField.define({
  create: () => Decoration.none,
  update(marks, transaction) {
    let next = marks.map(transaction.changes);
    for (const effect of transaction.effects) {
      if (!effect.is(setProblemLine)) continue;
      const number = effect.value;
      const doc = transaction.state.doc;
      next = number && number >= 1 && number <= doc.lines
        ? Decoration.set([problemMark.range(doc.line(number).from)])
        : Decoration.none;
    }
    return next;
  },
  provide: (field) => EditorView.decorations.from(field),
});

const problemMark = Decoration.line({
  class: "cm-problem-line",
  attributes: { "data-testid": "problem-line", title: "The error was reported on this line" },
});

const theme = EditorView.theme({
  "&": { border: "1px solid var(--line, #dde1e6)", borderRadius: "6px", background: "#fff", fontSize: "14px" },
  "&.cm-focused": { outline: "2px solid var(--accent, #2456c7)", outlineOffset: "1px" },
  ".cm-scroller": { fontFamily: 'ui-monospace, "DejaVu Sans Mono", monospace', lineHeight: "1.45", minHeight: "18em", maxHeight: "70vh" },
  ".cm-content": { padding: "6px 0" },
  ".cm-gutters": { background: "#f1f3f5", color: "#5d6675", borderRight: "1px solid var(--line, #dde1e6)" },
  ".cm-problem-line": { background: "#fdecea", boxShadow: "inset 3px 0 0 #b3261e" },
});

/**
 * Replace `textarea` with an editor holding its text. The textarea stays in the form,
 * hidden, and always holds the editor's text.
 * options: onSubmit() for Ctrl/Cmd+Enter, onChange(text) after each edit,
 * labelledBy and describedBy: the ids of the elements that label and describe it,
 * readOnly: a viewer (a past submission's code), still focusable to scroll and select.
 */
function create(textarea, options = {}) {
  const { onSubmit = () => {}, onChange = () => {}, labelledBy = null, describedBy = null, readOnly = false } = options;
  const submitKey = { key: "Mod-Enter", run: () => { onSubmit(); return true; }, preventDefault: true };
  const contentAttributes = { "aria-multiline": "true", "data-testid": "editor" };
  if (labelledBy) contentAttributes["aria-labelledby"] = labelledBy;
  if (describedBy) contentAttributes["aria-describedby"] = describedBy;
  const view = new EditorView({
    parent: textarea.parentElement,
    state: EditorState.create({
      doc: textarea.value,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightSpecialChars(),
        history(),
        drawSelection(),
        indentOnInput(),
        indentUnit.of("    "),
        EditorState.tabSize.of(4),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        bracketMatching(),
        closeBrackets(),
        highlightActiveLine(),
        python(),
        problemLine,
        // Tab indents; Escape then Tab moves focus on (CodeMirror's tab focus mode).
        keymap.of([submitKey, ...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, indentWithTab]),
        EditorView.contentAttributes.of(contentAttributes),
        EditorView.updateListener.of((update) => {
          if (!update.docChanged) return;
          textarea.value = update.state.doc.toString();
          onChange(textarea.value);
        }),
        theme,
        EditorState.readOnly.of(readOnly),
      ],
    }),
  });
  textarea.after(view.dom);
  textarea.hidden = true;
  textarea.tabIndex = -1;

  return {
    view,
    getValue: () => view.state.doc.toString(),
    // A replacement the student can undo (Ctrl+Z), e.g. "reset to starter".
    setValue(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    focus: () => view.focus(),
    // Put the cursor at the start of line `number` and the focus in the editor.
    goToLine(number) {
      const doc = view.state.doc;
      const line = doc.line(Math.min(Math.max(number, 1), doc.lines));
      view.dispatch({ selection: { anchor: line.from }, effects: EditorView.scrollIntoView(line.from, { y: "center" }) });
      view.focus();
    },
    markLine(number) {
      const effects = [setProblemLine.of(number)];
      if (number && number >= 1 && number <= view.state.doc.lines) {
        effects.push(EditorView.scrollIntoView(view.state.doc.line(number).from, { y: "center" }));
      }
      view.dispatch({ effects });
    },
  };
}

window.GradeflowEditor = { create };
