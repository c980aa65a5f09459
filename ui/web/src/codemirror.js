// The JSON code editor (CodeMirror 6), in its own chunk: `jsoneditor.jsx`
// imports it only when an editor is shown, so the first page stays small.
import { EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection } from '@codemirror/view';
import { EditorState } from '@codemirror/state';
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { json, jsonParseLinter } from '@codemirror/lang-json';
import { syntaxHighlighting, defaultHighlightStyle, bracketMatching } from '@codemirror/language';
import { linter, lintGutter, forceLinting } from '@codemirror/lint';

/**
 * An editor in `parent` holding `doc`. `onChange(text)` on every edit by
 * the user; `extra(text)` gives more diagnostics (the server's errors,
 * placed by path) beside JSON.parse's.
 */
export function createEditor(parent, { doc, label, describedBy, onChange, extra }) {
  const parseLint = jsonParseLinter();
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        history(),
        drawSelection(),
        bracketMatching(),
        highlightActiveLine(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        keymap.of([...defaultKeymap, ...historyKeymap]),
        json(),
        linter((v) => [...parseLint(v), ...extra(v.state.doc.toString())], { delay: 250 }),
        lintGutter(),
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({ 'aria-label': label, ...(describedBy ? { 'aria-describedby': describedBy } : {}) }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) onChange(u.state.doc.toString());
        }),
      ],
    }),
  });
  return {
    relint: () => forceLinting(view),
    destroy: () => view.destroy(),
  };
}
