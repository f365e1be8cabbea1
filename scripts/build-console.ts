/**
 * Builds the web console into dist/console/ (run by `npm run build`): the
 * TypeScript in console/src bundled with uPlot and lossless-json by esbuild
 * into one app.js, and index.html, style.css and uPlot's CSS copied beside
 * it. Nothing is fetched at run time: the page works offline.
 */
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'console');
const require = createRequire(import.meta.url);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, 'console', 'src', 'main.ts')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  target: ['chrome120', 'firefox120'],
  minify: true,
  legalComments: 'eof',
  logLevel: 'warning',
});
copyFileSync(join(root, 'console', 'index.html'), join(out, 'index.html'));
copyFileSync(join(root, 'console', 'style.css'), join(out, 'style.css'));
copyFileSync(join(dirname(require.resolve('uplot')), 'uPlot.min.css'), join(out, 'uPlot.min.css'));
