/** A small structured logger. Secrets are redacted by key name, never printed. */
export type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };
const SECRET_KEY = /pass(word)?|secret|token|key|credential/i;

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export interface LogSink {
  (line: string): void;
}

export function redact(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (SECRET_KEY.test(k) && v !== undefined && typeof v !== 'boolean') out[k] = '[redacted]';
    else if (v instanceof Error) out[k] = v.message;
    else if (v && typeof v === 'object' && !Array.isArray(v)) out[k] = redact(v as Record<string, unknown>);
    else out[k] = v;
  }
  return out;
}

export function createLogger(
  opts: { level?: Level; component?: string; sink?: LogSink; now?: () => number } = {},
): Logger {
  const level = opts.level ?? ((process.env.CITYGATE_LOG_LEVEL as Level | undefined) || 'info');
  const sink = opts.sink ?? ((line: string) => process.stderr.write(line + '\n'));
  const now = opts.now ?? Date.now;
  const make = (component: string): Logger => {
    const emit = (lvl: Level, msg: string, fields?: Record<string, unknown>) => {
      if (ORDER[lvl] < ORDER[level]) return;
      const extra = fields ? ' ' + JSON.stringify(redact(fields)) : '';
      sink(`${new Date(now()).toISOString()} ${lvl.toUpperCase().padEnd(5)} [${component}] ${msg}${extra}`);
    };
    return {
      debug: (m, f) => emit('debug', m, f),
      info: (m, f) => emit('info', m, f),
      warn: (m, f) => emit('warn', m, f),
      error: (m, f) => emit('error', m, f),
      child: (c) => make(component ? `${component}/${c}` : c),
    };
  };
  return make(opts.component ?? 'citygate');
}

/** A logger that keeps lines in memory: for tests that assert on what was logged. */
export function memoryLogger(level: Level = 'debug'): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ level, sink: (l) => lines.push(l) });
  return Object.assign(logger, { lines });
}
