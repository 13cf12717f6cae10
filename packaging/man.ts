// Man pages rendered from each program's own `--help` text, so that the page, `--help` and the README
// say the same thing: "Usage:" becomes SYNOPSIS, the paragraphs before the first "Xxx:" heading become
// DESCRIPTION, each heading block ("Options:", "Commands:") a section of tagged paragraphs, and the
// paragraphs after them ENVIRONMENT (when they talk about environment variables) or NOTES. FILES and
// SEE ALSO come from the package declaration.

export interface ManPageInput {
  name: string;
  section: 1 | 8;
  summary: string;
  version: string;
  date: string;
  help: string;
  files: { path: string; what: string }[];
  seeAlso: string[];
}

/** Escapes text for roff: backslashes, hyphens (so options stay ASCII), and leading control chars. */
function esc(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1');
}

interface Block {
  lines: string[];
}

function blocks(help: string): Block[] {
  return help
    .replace(/\r/g, '')
    .split(/\n\s*\n/)
    .map((b) => ({ lines: b.split('\n').filter((l) => l.trim() !== '') }))
    .filter((b) => b.lines.length > 0);
}

/** "  -c, --config PATH   text" → tagged paragraph; deeper-indented lines continue the text. */
function taggedList(lines: string[]): string[] {
  const out: string[] = [];
  for (const line of lines) {
    const m = /^\s{1,8}(\S(?:.*?\S)?)\s{2,}(\S.*)$/.exec(line);
    if (m && !/^\s{9,}/.test(line)) {
      out.push('.TP', `.B ${esc(m[1]!)}`, esc(m[2]!));
    } else {
      out.push(esc(line.trim()));
    }
  }
  return out;
}

export function renderManPage(input: ManPageInput): string {
  const bs = blocks(input.help);
  const out = [
    `.\\" Generated from \`${input.name} --help\` by packaging/man.ts; do not edit.`,
    `.TH ${esc(input.name.toUpperCase())} ${input.section} "${input.date}" "Stratus ${esc(input.version)}" "Stratus"`,
    '.SH NAME',
    `${esc(input.name)} \\- ${esc(input.summary)}`,
  ];
  const usage = bs[0]?.lines[0]?.startsWith('Usage:') ? bs.shift()! : undefined;
  out.push('.SH SYNOPSIS');
  if (usage) {
    for (const line of usage.lines) {
      const text = line.replace(/^Usage:\s*/, '').trim();
      const [cmd, ...rest] = text.split(/\s+/);
      out.push(`.B ${esc(cmd ?? input.name)}`, ...(rest.length > 0 ? [esc(rest.join(' '))] : []), '.br');
    }
    out.pop();
  } else {
    out.push(`.B ${esc(input.name)}`);
  }
  const description: string[] = [];
  const sections: string[] = [];
  const environment: string[] = [];
  const notes: string[] = [];
  let seenHeading = false;
  for (const b of bs) {
    const heading = /^([A-Z][A-Za-z ]+):$/.exec(b.lines[0]!.trim());
    if (heading) {
      seenHeading = true;
      sections.push(`.SH ${esc(heading[1]!.toUpperCase())}`, ...taggedList(b.lines.slice(1)));
    } else if (!seenHeading) {
      description.push('.PP', ...b.lines.map((l) => esc(l.trim())));
    } else if (/environment/i.test(b.lines.join(' '))) {
      environment.push('.PP', ...b.lines.map((l) => esc(l.trim())));
    } else {
      notes.push('.PP', ...b.lines.map((l) => esc(l.trim())));
    }
  }
  if (description.length > 0) out.push('.SH DESCRIPTION', ...description);
  out.push(...sections);
  if (environment.length > 0) out.push('.SH ENVIRONMENT', ...environment);
  if (notes.length > 0) out.push('.SH NOTES', ...notes);
  if (input.files.length > 0) {
    out.push('.SH FILES');
    for (const f of input.files) out.push('.TP', `.I ${esc(f.path)}`, esc(f.what));
  }
  if (input.seeAlso.length > 0) {
    out.push('.SH SEE ALSO', input.seeAlso.map((s) => `.BR ${s.replace(/\((\d)\)$/, ' ($1)')}`).join(',\n'));
  }
  return `${out.join('\n')}\n`;
}
