#!/usr/bin/env node
// Launcher: runs the compiled agent when built, else the TypeScript sources through tsx.
import { existsSync } from 'node:fs';

const dist = new URL('../dist/controller/main.js', import.meta.url);
if (existsSync(dist)) {
  await import(dist.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../controller/main.ts', import.meta.url).href);
}
