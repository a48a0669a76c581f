import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CityGateError } from '../common/errors.js';

export class UsageError extends CityGateError {
  constructor(message: string) {
    super('usage', message);
  }
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Option descriptions for --help, in display order. */
  help: Record<string, string>;
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>;
}

export function helpText(cmd: Command): string {
  const lines = [`citygate ${cmd.name} — ${cmd.summary}`, '', `Usage: citygate ${cmd.usage}`, '', 'Options:'];
  for (const [name, text] of Object.entries(cmd.help)) {
    const opt = cmd.options[name];
    const flag = `--${name}${opt?.type === 'string' ? ' VALUE' : ''}`;
    lines.push(`  ${flag.padEnd(24)} ${text}`);
  }
  lines.push(`  ${'--help'.padEnd(24)} show this help`);
  return lines.join('\n');
}

export function parse(
  cmd: Command,
  argv: string[],
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...cmd.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (err) {
    throw new UsageError(
      `${(err as Error).message.replace(/\. To specify.*$/s, '')}\nRun 'citygate ${cmd.name} --help' for usage.`,
    );
  }
}

export function intOption(
  values: Record<string, unknown>,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || n < min || n > max) {
    throw new UsageError(`--${name}: expected an integer from ${min} to ${max}, got '${String(raw)}'`);
  }
  return n;
}

/** Resolve on SIGINT/SIGTERM; a second signal exits at once. */
export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const handler = (sig: string) => {
      process.once('SIGINT', () => process.exit(130));
      resolve(sig);
    };
    process.once('SIGINT', () => handler('SIGINT'));
    process.once('SIGTERM', () => handler('SIGTERM'));
  });
}
