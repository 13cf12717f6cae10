// Reading a VM's serial console through the agent API: the text so far, and waiting for a line that
// appears after a given offset (so that an earlier boot's lines do not count).

import type { AgentHandle } from './agent-process.ts';
import { waitFor } from './wait.ts';

export async function consoleText(agent: AgentHandle, id: string): Promise<string> {
  const r = await agent.request('GET', `/v1/vms/${id}/console?bytes=1048576`);
  return typeof r.body === 'string' ? r.body : '';
}

/** Waits for `re` in the console output written after `from` characters; resolves with that output. */
export function waitConsole(
  agent: AgentHandle,
  id: string,
  from: number,
  re: RegExp,
  timeoutMs = 90_000,
): Promise<string> {
  return waitFor(
    `${re} on the console of ${id}`,
    async () => {
      const text = (await consoleText(agent, id)).slice(from);
      return re.test(text) ? text : undefined;
    },
    timeoutMs,
    250,
  );
}
