import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CityGateError } from '../../common/errors.js';
import { assertValid } from '../../common/json-schema.js';
import { packageRoot } from '../../common/package-root.js';

/** A gateway board: what its boot config needs for the RS-485 HAT, and where the port appears. */
export interface Board {
  id: string;
  name: string;
  configTxt: string[];
  serialPort: string;
  gpioChipLabel: string;
  notes?: string;
}

const boardSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'configTxt', 'serialPort', 'gpioChipLabel'],
  properties: {
    id: { type: 'string', pattern: '^[a-z0-9-]+/[a-z0-9-]+$' },
    name: { type: 'string', minLength: 1 },
    configTxt: { type: 'array', items: { type: 'string', pattern: '^[a-z_0-9]+=[^\\n]+$' } },
    serialPort: { type: 'string', pattern: '^/dev/' },
    gpioChipLabel: { type: 'string' },
    notes: { type: 'string' },
  },
} as const;

export function loadBoards(): Map<string, Board> {
  const dir = join(packageRoot(), 'hardware', 'boards');
  const out = new Map<string, Board>();
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
    const b = assertValid<Board>(
      boardSchema,
      JSON.parse(readFileSync(join(dir, f), 'utf8')),
      `board ${join(dir, f)}`,
    );
    out.set(b.id, b);
  }
  return out;
}

export function boardById(id: string): Board {
  const boards = loadBoards();
  const b = boards.get(id);
  if (!b)
    throw new CityGateError('invalid', `unknown board '${id}' (known: ${[...boards.keys()].join(', ')})`);
  return b;
}
