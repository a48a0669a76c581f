import { hashPassword } from '../edge/src/node-red/red.js';
import { UsageError, type Command } from './args.js';

/** `citygate node-red hash`: the bcrypt hash for `nodeRed.adminAuth.passwordHash`, password read from stdin. */
export const nodeRedCommand: Command = {
  name: 'node-red',
  summary: "helpers for the gateway's embedded Node-RED editor",
  usage: 'node-red hash   (reads the password from standard input)',
  options: {},
  help: {},
  async run(_values, positionals) {
    if (positionals[0] !== 'hash')
      throw new UsageError("expected 'node-red hash'. Run 'citygate node-red --help'.");
    let input = '';
    for await (const chunk of process.stdin) input += String(chunk);
    const password = input.replace(/\r?\n$/, '');
    if (password.length < 8)
      throw new UsageError('the password (on standard input) needs at least 8 characters');
    console.log(hashPassword(password));
    await Promise.resolve();
    return 0;
  },
};
