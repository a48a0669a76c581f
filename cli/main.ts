#!/usr/bin/env node
import '../common/threadpool.js'; // first: sizes libuv's pool before anything uses it
import { CityGateError, ValidationError } from '../common/errors.js';
import { packageVersion } from '../common/package-root.js';
import { helpText, parse, UsageError, type Command } from './args.js';
import { edgeCommand, fleetCommand, simCommand } from './commands.js';
import { demoCommand } from './demo/command.js';
import { gpioCommand } from './gpio-command.js';
import { deviceCommand, modbusCommand } from './modbus-command.js';
import { releaseCommand } from './release-command.js';
import { rolloutCommand } from './rollout-command.js';
import { withEdgeServiceCommands } from './edge-service-command.js';
import { flashCommand } from './flash/command.js';
import { commissionCommand } from './commission-command.js';
import { firstbootCommand } from './firstboot-command.js';
import { nodeRedCommand } from './node-red-command.js';
import { fleetImportCommand } from './fleet-import-command.js';
import { provisionCommand } from './provision-command.js';

const commands: Command[] = [
  demoCommand,
  withEdgeServiceCommands(edgeCommand),
  fleetCommand,
  simCommand,
  modbusCommand,
  releaseCommand,
  rolloutCommand,
  deviceCommand,
  flashCommand,
  commissionCommand,
  firstbootCommand,
  nodeRedCommand,
  provisionCommand,
  gpioCommand,
];

function usage(): string {
  return [
    `citygate ${packageVersion()} — edge controller and fleet manager for smart-city field gateways`,
    '',
    'Usage: citygate <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`),
    '',
    "Run 'citygate <command> --help' for a command's options.",
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return 0;
  }
  if (name === '--version') {
    console.log(packageVersion());
    return 0;
  }
  // `fleet import` is its own command with its own options (cli/fleet-import-command.ts).
  const cmd =
    name === 'fleet' && rest[0] === 'import'
      ? (rest.shift(), fleetImportCommand)
      : commands.find((c) => c.name === name);
  if (!cmd) {
    console.error(`citygate: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    const { values, positionals } = parse(cmd, rest);
    if (values.help) {
      console.log(helpText(cmd));
      return 0;
    }
    return await cmd.run(values, positionals);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`citygate ${cmd.name}: ${err.message}`);
      return 2;
    }
    if (err instanceof ValidationError || err instanceof CityGateError) {
      console.error(`citygate ${cmd.name}: ${err.message}`);
      return 1;
    }
    console.error(`citygate ${cmd.name}: ${(err as Error).stack ?? String(err)}`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
