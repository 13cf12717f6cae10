// XML escaping for text and attribute values: every value that goes into generated XML passes here.

const entities: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

export function xmlEscape(value: string | number): string {
  return String(value).replace(/[&<>"']/g, (c) => entities[c]!);
}

/** Minimal tagged template: interpolated values are escaped, nested `raw` fragments are not. */
export class RawXml {
  constructor(readonly text: string) {}
}

export function raw(text: string): RawXml {
  return new RawXml(text);
}

export function xml(strings: TemplateStringsArray, ...values: (string | number | RawXml | RawXml[])[]): RawXml {
  let out = strings[0]!;
  values.forEach((v, i) => {
    if (Array.isArray(v)) out += v.map((x) => x.text).join('');
    else out += v instanceof RawXml ? v.text : xmlEscape(v);
    out += strings[i + 1]!;
  });
  return new RawXml(out);
}
