import { ModbusError } from '../edge/src/modbus/errors.js';
import { planReads } from '../edge/src/modbus/plan.js';
import { LocalApiTransport } from '../edge/src/modbus/local-transport.js';
import { RtuTransport } from '../edge/src/modbus/rtu-transport.js';
import { TcpTransport, type ModbusTransport } from '../edge/src/modbus/transport.js';
import { decodePoint, encodePoint } from '../hardware/src/codec.js';
import { loadProfiles, pointWidth, type PointDef, type Table } from '../hardware/src/profile.js';
import { intOption, UsageError, type Command } from './args.js';
import { progress, table } from './format.js';

type Values = Record<string, string | boolean | undefined>;

const transportOptions = {
  gateway: { type: 'string' },
  line: { type: 'string' },
  tcp: { type: 'string' },
  port: { type: 'string' },
  baud: { type: 'string' },
  parity: { type: 'string' },
  'stop-bits': { type: 'string' },
  timeout: { type: 'string' },
} as const;

const transportHelp = {
  gateway: 'go through the running gateway whose data directory this is (its line owns the port)',
  line: 'with --gateway: which line of the gateway (default: its only line)',
  tcp: 'Modbus TCP endpoint HOST:PORT',
  port: 'serial port for Modbus RTU, e.g. /dev/ttyUSB0',
  baud: 'RTU baud rate (default 19200)',
  parity: 'RTU parity: none | even | odd (default even)',
  'stop-bits': 'RTU stop bits: 1 | 2 (default 1)',
  timeout: 'per-request timeout in ms (default 300)',
};

/** Build the transport named by --tcp or --port. The caller closes it. */
export function transportFrom(values: Values, cmd: string): ModbusTransport {
  const timeoutMs = intOption(values, 'timeout', 300, 10, 60_000);
  const where = ['gateway', 'tcp', 'port'].filter((k) => typeof values[k] === 'string');
  if (where.length > 1)
    throw new UsageError(
      `give one of --gateway, --tcp or --port, not ${where.map((w) => `--${w}`).join(' and ')}`,
    );
  if (typeof values.gateway === 'string')
    return new LocalApiTransport(values.gateway, values.line as string | undefined);
  if (typeof values.tcp === 'string') {
    const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(values.tcp);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535)
      throw new UsageError(`--tcp: expected HOST:PORT, got '${values.tcp}'`);
    return new TcpTransport(m[1]!.replace(/^\[|\]$/g, ''), Number(m[2]), timeoutMs);
  }
  if (typeof values.port === 'string') {
    const parity = (values.parity ?? 'even') as string;
    if (!['none', 'even', 'odd'].includes(parity))
      throw new UsageError(`--parity: expected none, even or odd, got '${parity}'`);
    const stopBits = intOption(values, 'stop-bits', 1, 1, 2) as 1 | 2;
    const baudRate = intOption(values, 'baud', 19200, 300, 921600);
    return new RtuTransport({
      path: values.port,
      baudRate,
      parity: parity as 'none' | 'even' | 'odd',
      stopBits,
      timeoutMs,
    });
  }
  throw new UsageError(
    `say where the bus is: --gateway DATA_DIR (through a running gateway), --tcp HOST:PORT or --port /dev/ttyX. Run 'citygate ${cmd} --help'.`,
  );
}

function unitOption(values: Values): number {
  if (values.unit === undefined) throw new UsageError('missing --unit N (1-247)');
  return intOption(values, 'unit', 1, 0, 247);
}

const TABLES: Table[] = ['holding', 'input', 'coil', 'discrete'];
const TYPES = ['uint16', 'int16', 'uint32', 'int32', 'float32'] as const;

function adHocPoint(values: Values): PointDef {
  const tableName = (values.table ?? 'holding') as Table;
  if (!TABLES.includes(tableName))
    throw new UsageError(`--table: expected one of ${TABLES.join(', ')}, got '${tableName}'`);
  const bits = tableName === 'coil' || tableName === 'discrete';
  const type = (values.type ?? (bits ? 'bool' : 'uint16')) as PointDef['type'];
  if (!bits && !(TYPES as readonly string[]).includes(type))
    throw new UsageError(`--type: expected one of ${TYPES.join(', ')}, got '${type}'`);
  const wordOrder = (values['word-order'] ?? 'big') as 'big' | 'little';
  if (!['big', 'little'].includes(wordOrder))
    throw new UsageError(`--word-order: expected big or little, got '${wordOrder}'`);
  return {
    id: 'value',
    name: 'value',
    table: tableName,
    address: intOption(values, 'address', 0, 0, 65535),
    type: bits ? 'bool' : type,
    wordOrder,
    access: 'rw',
  };
}

async function withTransport<T>(t: ModbusTransport, fn: (t: ModbusTransport) => Promise<T>): Promise<T> {
  await t.open();
  try {
    return await fn(t);
  } finally {
    await t.close();
  }
}

async function scan(values: Values): Promise<number> {
  const range = /^(\d+)-(\d+)$/.exec(String(values.units ?? '1-247'));
  const first = Number(range?.[1]);
  const last = Number(range?.[2]);
  if (!range || first < 1 || last > 247 || first > last)
    throw new UsageError(`--units: expected FIRST-LAST within 1-247, got '${String(values.units)}'`);
  const address = intOption(values, 'address', 0, 0, 65535);
  const t = transportFrom(values, 'modbus scan');
  const found: (string | number)[][] = [];
  const bar = progress(last - first + 1, 'scanning');
  await withTransport(t, async () => {
    for (let unit = first; unit <= last; unit++) {
      try {
        const [v] = await t.read(unit, 'holding', address, 1);
        found.push([unit, `holding ${address} = ${v}`]);
      } catch (err) {
        if (err instanceof ModbusError && err.code === 'exception')
          found.push([unit, `answers (${err.message.split(': ').pop()})`]);
        else if (err instanceof ModbusError && err.code === 'connection') throw err;
      }
      bar.update(unit - first + 1, `${found.length} answered`);
    }
  });
  bar.end();
  console.log(found.length ? table(['unit', 'answer'], found) : 'no unit answered');
  console.log(`${found.length} of ${last - first + 1} unit(s) answered on ${t.description}`);
  return 0;
}

async function read(values: Values): Promise<number> {
  const unit = unitOption(values);
  const p = adHocPoint(values);
  const count = intOption(values, 'count', 1, 1, p.table === 'coil' || p.table === 'discrete' ? 2000 : 125);
  const width = pointWidth(p);
  const t = transportFrom(values, 'modbus read');
  const raw = await withTransport(t, () => t.read(unit, p.table, p.address, count * width));
  const rows: (string | number)[][] = [];
  for (let i = 0; i < count; i++) {
    const words = raw.slice(i * width, (i + 1) * width);
    const addr = p.address + i * width;
    rows.push([
      addr,
      words.map((w) => `0x${w.toString(16).padStart(width > 1 || p.type !== 'bool' ? 4 : 1, '0')}`).join(' '),
      String(decodePoint({ ...p, address: addr }, words)),
    ]);
  }
  console.log(table(['address', 'raw', p.type], rows));
  return 0;
}

async function write(values: Values): Promise<number> {
  const unit = unitOption(values);
  const p = adHocPoint(values);
  if (p.table !== 'holding' && p.table !== 'coil')
    throw new UsageError(`--table: only holding registers and coils can be written, not '${p.table}'`);
  const rawValue = values.value;
  if (typeof rawValue !== 'string') throw new UsageError('missing --value V');
  let v: number | boolean;
  if (p.type === 'bool') {
    if (!/^(0|1|true|false|on|off)$/.test(rawValue))
      throw new UsageError(`--value: expected 0/1/on/off for a coil, got '${rawValue}'`);
    v = /^(1|true|on)$/.test(rawValue);
  } else {
    v = Number(rawValue);
    if (rawValue.trim() === '' || !Number.isFinite(v))
      throw new UsageError(`--value: '${rawValue}' is not a number`);
  }
  let words: number[];
  try {
    const enc = encodePoint(p, v);
    words = typeof enc === 'boolean' ? [enc ? 1 : 0] : enc;
  } catch (err) {
    throw new UsageError(`--value: ${(err as Error).message.replace(/^value: /, '')}`);
  }
  const t = transportFrom(values, 'modbus write');
  await withTransport(t, () => t.write(unit, p.table as 'holding' | 'coil', p.address, words));
  console.log(
    `unit ${unit} ${p.table} ${p.address} ← ${String(v)} (${words.map((w) => `0x${w.toString(16).padStart(4, '0')}`).join(' ')}) confirmed`,
  );
  return 0;
}

export const modbusCommand: Command = {
  name: 'modbus',
  summary: 'technician tools on a Modbus bus: scan for units, read or write raw registers',
  usage:
    'modbus scan|read|write (--tcp HOST:PORT | --port DEV [--baud N --parity P --stop-bits N]) [--units A-B] [--unit N --address A --count N --table T --type T --word-order O --value V]',
  options: {
    ...transportOptions,
    units: { type: 'string' },
    unit: { type: 'string' },
    address: { type: 'string' },
    count: { type: 'string' },
    table: { type: 'string' },
    type: { type: 'string' },
    'word-order': { type: 'string' },
    value: { type: 'string' },
  },
  help: {
    ...transportHelp,
    units: 'scan: unit range FIRST-LAST (default 1-247)',
    unit: 'read/write: unit id',
    address: 'register or coil address, 0-based (default 0)',
    count: 'read: number of values (default 1)',
    table: 'holding | input | coil | discrete (default holding)',
    type: 'uint16 | int16 | uint32 | int32 | float32 (default uint16)',
    'word-order': 'big | little: word order of 32-bit values (default big)',
    value: 'write: the value (a number, or 0/1 for a coil)',
  },
  async run(values, positionals) {
    const sub = positionals[0];
    if (sub === 'scan') return scan(values);
    if (sub === 'read') return read(values);
    if (sub === 'write') return write(values);
    throw new UsageError(
      `expected a subcommand: scan, read or write${sub ? ` (got '${sub}')` : ''}. Run 'citygate modbus --help'.`,
    );
  },
};

export const deviceCommand: Command = {
  name: 'device',
  summary: 'read every point of a device by its profile, as a table with units',
  usage:
    'device read --profile ID --unit N (--tcp HOST:PORT | --port DEV [--baud N --parity P --stop-bits N])',
  options: { ...transportOptions, profile: { type: 'string' }, unit: { type: 'string' } },
  help: { profile: 'device profile id, e.g. citygate/slc-100', unit: 'unit id', ...transportHelp },
  async run(values, positionals) {
    if (positionals[0] !== 'read')
      throw new UsageError(`expected 'device read'. Run 'citygate device --help'.`);
    const profiles = loadProfiles();
    const id = values.profile;
    if (typeof id !== 'string') throw new UsageError('missing --profile ID');
    const profile = profiles.get(id);
    if (!profile)
      throw new UsageError(`--profile: unknown profile '${id}' (known: ${[...profiles.keys()].join(', ')})`);
    const unit = unitOption(values);
    const t = transportFrom(values, 'device read');
    const rows: string[][] = [];
    let failures = 0;
    await withTransport(t, async () => {
      for (const b of planReads(profile)) {
        try {
          const raw = await t.read(unit, b.table, b.address, b.count);
          for (const p of b.points) {
            const off = p.address - b.address;
            const v = decodePoint(p, raw.slice(off, off + pointWidth(p)), profile.modbus);
            rows.push([
              p.id,
              p.name,
              typeof v === 'number' ? String(Number(v.toFixed(4))) : String(v),
              p.unit ?? '',
              p.access,
            ]);
          }
        } catch (err) {
          if (err instanceof ModbusError && err.code === 'connection') throw err;
          failures++;
          for (const p of b.points)
            rows.push([p.id, p.name, `error: ${(err as Error).message}`, p.unit ?? '', p.access]);
        }
      }
    });
    console.log(`${profile.vendor} ${profile.model} (${profile.id}), unit ${unit} on ${t.description}`);
    console.log(table(['point', 'name', 'value', 'unit', 'access'], rows));
    return failures ? 1 : 0;
  },
};
