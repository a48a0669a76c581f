import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { packageRoot } from '../../../common/package-root.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.geojson': 'application/geo+json; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The dashboard: static files from fleet/ui and the charting library from node_modules. Read once. */
export function registerUiRoutes(app: FastifyInstance): void {
  const root = packageRoot();
  const files = new Map<string, { body: Buffer; type: string }>();
  const add = (url: string, path: string) => {
    const ext = path.slice(path.lastIndexOf('.'));
    files.set(url, { body: readFileSync(path), type: TYPES[ext] ?? 'application/octet-stream' });
  };
  const ui = join(root, 'fleet', 'ui');
  // Every page, script and style in fleet/ui (read once at start; nothing else is served from disk).
  for (const f of readdirSync(ui)
    .filter((n) => /\.(html|js|css)$/.test(n))
    .sort())
    add(`/ui/${f}`, join(ui, f));
  add('/ui/maps/hoan-kiem.geojson', join(ui, 'maps', 'hoan-kiem.geojson'));
  add('/vendor/uplot.js', join(root, 'node_modules', 'uplot', 'dist', 'uPlot.iife.min.js'));
  add('/vendor/uplot.css', join(root, 'node_modules', 'uplot', 'dist', 'uPlot.min.css'));

  app.get('/', (_req, reply) =>
    reply.type(files.get('/ui/index.html')!.type).send(files.get('/ui/index.html')!.body),
  );
  for (const [url, f] of files)
    app.get(url, (_req, reply) => reply.type(f.type).header('cache-control', 'no-cache').send(f.body));
}
