import { readFileSync } from 'node:fs';

// package.json is one level above both src/ (tsx) and dist/ (built): found
// relative to this module, so the CLI works from any working directory.
const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

export const VERSION = packageJson.version;
