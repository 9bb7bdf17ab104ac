// The subset of Go text/template that crypto-config files use: `{{.Field}}` substitutions, with
// optional spaces inside the braces. Anything else (pipelines, if, range, functions) is reported
// instead of guessed at, so a config never renders differently here than in cryptogen.

export type TemplateData = Readonly<Record<string, string | number>>;

export type TemplateResult =
  { readonly ok: true; readonly text: string } | { readonly ok: false; readonly reason: string };

const actionPattern = /^\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*$/;

/** Renders `template` with `data`; fields not in `data` are an error, as in Go. */
export function renderTemplate(template: string, data: TemplateData): TemplateResult {
  let text = '';
  let rest = template;
  for (;;) {
    const open = rest.indexOf('{{');
    if (open < 0) return { ok: true, text: text + rest };
    const close = rest.indexOf('}}', open + 2);
    if (close < 0) return { ok: false, reason: `unclosed action in "${template}"` };
    const action = rest.slice(open + 2, close);
    const match = actionPattern.exec(action);
    const field = match?.[1];
    if (field === undefined) {
      return {
        ok: false,
        reason: `"{{${action}}}" is not supported; use only {{.Field}} with ${fieldList(data)}`,
      };
    }
    const value = Object.hasOwn(data, field) ? data[field] : undefined;
    if (value === undefined) {
      return { ok: false, reason: `unknown field .${field}; available: ${fieldList(data)}` };
    }
    text += rest.slice(0, open) + String(value);
    rest = rest.slice(close + 2);
  }
}

function fieldList(data: TemplateData): string {
  return Object.keys(data)
    .map((key) => `{{.${key}}}`)
    .join(', ');
}
