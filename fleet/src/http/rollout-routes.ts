import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { CityGateError, errorMessage } from '../../../common/errors.js';
import type { ReleaseStore } from '../releases/store.js';
import { summarize } from '../rollout/machine.js';
import type { RolloutRunner } from '../rollout/runner.js';
import type { RolloutSpec, RolloutState } from '../rollout/types.js';

export interface RolloutRouteDeps {
  releases: ReleaseStore;
  rollouts: RolloutRunner;
  /** Where uploads are written before they are verified (same filesystem as the release store). */
  uploadDir: string;
  /** Largest bundle accepted (default 1 GiB). */
  maxBundleBytes?: number;
}

const STATUS: Record<string, number> = {
  'not-found': 404,
  'release-exists': 409,
  'rollout-invalid': 400,
  'too-large': 413,
};

function fail(reply: FastifyReply, err: unknown): FastifyReply {
  const code = err instanceof CityGateError ? err.code : 'internal';
  const status =
    STATUS[code] ?? (code.startsWith('bundle-') ? 400 : err instanceof CityGateError ? 400 : 500);
  return reply.status(status).send({
    status: 'error',
    error: { code, message: status === 500 ? 'internal error' : errorMessage(err) },
  });
}

const VERSION = '^\\d{1,6}\\.\\d{1,6}\\.\\d{1,6}$';
const HHMM = '^([01]\\d|2[0-3]):[0-5]\\d$';
const rolloutSpecSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'target', 'waves', 'successThresholdPercent', 'maxFailures', 'gatewayTimeoutMs'],
  properties: {
    version: { type: 'string', pattern: VERSION },
    target: {
      type: 'object',
      additionalProperties: false,
      required: ['kind'],
      properties: {
        kind: { enum: ['all', 'group', 'tag'] },
        group: { type: 'string', minLength: 1, maxLength: 64 },
        tag: { type: 'string', minLength: 1, maxLength: 64 },
      },
    },
    waves: {
      type: 'array',
      maxItems: 20,
      items: {
        type: 'object',
        additionalProperties: false,
        properties: {
          count: { type: 'integer', minimum: 1 },
          percent: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
        },
        minProperties: 1,
        maxProperties: 1,
      },
    },
    successThresholdPercent: { type: 'number', minimum: 0, maximum: 100 },
    maxFailures: { type: 'integer', minimum: 1 },
    gatewayTimeoutMs: { type: 'integer', minimum: 1000 },
    maxInFlight: { type: 'integer', minimum: 1 },
    window: {
      type: 'object',
      additionalProperties: false,
      required: ['from', 'to', 'utcOffsetMinutes'],
      properties: {
        from: { type: 'string', pattern: HHMM },
        to: { type: 'string', pattern: HHMM },
        utcOffsetMinutes: { type: 'integer', minimum: -720, maximum: 840 },
      },
    },
    pilotZone: { type: 'string', minLength: 1, maxLength: 64 },
  },
} as const;

/** A rollout as the API shows it: the state plus a per-wave summary (what `rollout status` draws). */
export const rolloutView = (s: RolloutState) => ({ ...s, summary: summarize(s) });

function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'bad' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'bad';
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(size - 1, Number(m[2]));
  }
  return start > end || start >= size ? 'bad' : { start, end };
}

/**
 * Releases and rollouts over HTTP (API v1): upload a signed bundle, download it (HTTP Range, so a
 * gateway resumes), create rollouts and watch, pause, resume or abort them.
 */
export function registerRolloutRoutes(app: FastifyInstance, deps: RolloutRouteDeps): void {
  mkdirSync(deps.uploadDir, { recursive: true, mode: 0o750 });
  let uploads = 0;
  void app.register((sub, _opts, done) => {
    // Bundles arrive as raw bytes and are streamed to disk, never held in memory.
    sub.addContentTypeParser(
      'application/octet-stream',
      { bodyLimit: deps.maxBundleBytes ?? 1024 ** 3 },
      (_req, payload, cb) => cb(null, payload),
    );

    sub.get('/api/v1/releases', () => ({ releases: deps.releases.list() }));

    sub.post('/api/v1/releases', async (req, reply) => {
      if (!req.headers['content-type']?.startsWith('application/octet-stream'))
        return fail(reply, new CityGateError('bad-request', 'upload a bundle as application/octet-stream'));
      const tmp = join(deps.uploadDir, `upload-${process.pid}-${uploads++}.bundle`);
      try {
        const limit = deps.maxBundleBytes ?? 1024 ** 3;
        let seen = 0;
        const cap = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            seen += chunk.length;
            cb(
              seen > limit ? new CityGateError('too-large', `bundle is larger than ${limit} bytes`) : null,
              chunk,
            );
          },
        });
        await pipeline(req.body as Readable, cap, createWriteStream(tmp, { mode: 0o640 }));
        const release = await deps.releases.add(tmp);
        return await reply.status(201).send({ status: 'ok', release });
      } catch (err) {
        return fail(reply, err);
      } finally {
        await rm(tmp, { force: true });
      }
    });

    sub.get<{ Params: { version: string }; Querystring: { platform?: string; arch?: string; abi?: string } }>(
      '/api/v1/releases/:version/bundle',
      async (req, reply) => {
        let found;
        try {
          found = deps.releases.find(req.params.version, {
            ...(req.query.platform ? { platform: req.query.platform } : {}),
            ...(req.query.arch ? { arch: req.query.arch } : {}),
            ...(req.query.abi ? { nodeAbi: req.query.abi } : {}),
          });
        } catch (err) {
          return fail(reply, err);
        }
        const size = found.build.size;
        const range = parseRange(req.headers.range, size);
        void reply
          .header('accept-ranges', 'bytes')
          .header('content-type', 'application/octet-stream')
          .header('etag', `"${found.build.sha256}"`);
        if (range === 'bad') return reply.status(416).header('content-range', `bytes */${size}`).send();
        if (!range) return reply.header('content-length', size).send(createReadStream(found.path));
        return reply
          .status(206)
          .header('content-range', `bytes ${range.start}-${range.end}/${size}`)
          .header('content-length', range.end - range.start + 1)
          .send(createReadStream(found.path, { start: range.start, end: range.end }));
      },
    );

    sub.get('/api/v1/rollouts', () => ({ rollouts: deps.rollouts.list().map(rolloutView) }));

    sub.post<{ Body: RolloutSpec }>(
      '/api/v1/rollouts',
      { schema: { body: rolloutSpecSchema } },
      async (req, reply) => {
        try {
          const t = req.body.target as { kind: string; group?: string; tag?: string };
          if ((t.kind === 'group' && !t.group) || (t.kind === 'tag' && !t.tag))
            throw new CityGateError('rollout-invalid', `target kind '${t.kind}' needs a '${t.kind}'`);
          return await reply
            .status(201)
            .send({ status: 'ok', rollout: rolloutView(await deps.rollouts.create(req.body)) });
        } catch (err) {
          return fail(reply, err);
        }
      },
    );

    sub.get<{ Params: { id: string } }>('/api/v1/rollouts/:id', (req, reply) => {
      try {
        return reply.send({ rollout: rolloutView(deps.rollouts.get(req.params.id)) });
      } catch (err) {
        return fail(reply, err);
      }
    });

    for (const action of ['pause', 'resume', 'abort'] as const)
      sub.post<{ Params: { id: string }; Body: { reason?: string } | undefined }>(
        `/api/v1/rollouts/:id/${action}`,
        (req, reply) => {
          try {
            const id = req.params.id;
            const s =
              action === 'abort'
                ? deps.rollouts.abort(id, req.body?.reason)
                : action === 'pause'
                  ? deps.rollouts.pause(id, req.body?.reason)
                  : deps.rollouts.resume(id);
            return reply.send({ status: 'ok', rollout: rolloutView(s) });
          } catch (err) {
            return fail(reply, err);
          }
        },
      );
    done();
  });
}
