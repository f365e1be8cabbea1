/**
 * Headless Chromium for the console's browser tests: the build shipped inside
 * the @sparticuz/chromium npm package (nothing to install by hand), driven by
 * puppeteer-core. The package extracts Chromium into `$TMPDIR/chromium` and
 * reuses whatever it finds there, of any version: it is given a folder of its
 * own under the OS temp folder, named for its version.
 */
import chromium from '@sparticuz/chromium';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import puppeteer, { type Browser } from 'puppeteer-core';

const require = createRequire(import.meta.url);

function chromiumVersion(): string {
  const manifest = join(require.resolve('@sparticuz/chromium').replace(/build[/\\]cjs[/\\].*$/, ''), 'package.json');
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

/** Extracts (once per version) and starts Chromium. */
export async function launchBrowser(): Promise<Browser> {
  const folder = join(tmpdir(), `take-a-number-chromium-${chromiumVersion()}`);
  mkdirSync(folder, { recursive: true });
  const previous = process.env.TMPDIR;
  let executablePath: string;
  process.env.TMPDIR = folder; // os.tmpdir() reads it at each call: the package extracts there
  try {
    executablePath = await chromium.executablePath();
  } finally {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  }
  // The package's fonts.conf names /tmp/fonts; this one names its own copy and the system's fonts.
  const fontconfig = join(folder, 'fontconfig');
  mkdirSync(fontconfig, { recursive: true });
  writeFileSync(
    join(fontconfig, 'fonts.conf'),
    `<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig><dir>${join(folder, 'fonts', 'fonts')}</dir><dir>/usr/share/fonts</dir>` +
      `<cachedir>${join(folder, 'fonts-cache')}</cachedir></fontconfig>\n`,
  );
  return puppeteer.launch({
    executablePath,
    // A definite UI language: without one, navigator.language may come from a POSIX locale that Intl refuses.
    args: [...chromium.args, '--lang=en-US'],
    headless: 'shell',
    defaultViewport: { width: 1280, height: 900 },
    env: { ...process.env, HOME: folder, FONTCONFIG_PATH: fontconfig, LANG: 'en_US.UTF-8', LANGUAGE: 'en_US' },
  });
}
