// A small JSON-over-HTTP client for tests: sends a JSON (or raw string) body, parses a JSON answer when
// there is one, and never throws on HTTP errors (tests assert on the status).

export interface HttpAnswer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: test code reads arbitrary JSON answers
  body: any;
  headers: Headers;
}

export async function httpRequest(
  url: string,
  method: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> {
  const h = { ...headers };
  let payload: string | null = null;
  if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
    h['content-type'] = 'application/json';
  }
  const res = await fetch(url, { method, headers: h, body: payload });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // a text body
  }
  return { status: res.status, body: parsed, headers: res.headers };
}
