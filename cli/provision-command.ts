import { provision } from '../edge/src/provision.js';
import { UsageError, type Command } from './args.js';

const need = (values: Record<string, unknown>, name: string): string => {
  const v = values[name];
  if (typeof v !== 'string' || v === '')
    throw new UsageError(`missing --${name}. Run 'citygate provision --help' for usage.`);
  return v;
};

export const provisionCommand: Command = {
  name: 'provision',
  summary: "exchange a claim token for this gateway's fleet credentials",
  usage: 'provision --fleet URL --token T --id GATEWAY-ID [--dir DIR]',
  options: {
    fleet: { type: 'string' },
    token: { type: 'string' },
    id: { type: 'string' },
    dir: { type: 'string' },
  },
  help: {
    fleet: 'fleet API base URL (https://… in production)',
    token: 'claim token from the fleet admin (single use, expires)',
    id: 'this gateway id (a-z, 0-9, -)',
    dir: 'where to keep the credentials (default /etc/citygate/fleet; fleet.json is 0600)',
  },
  async run(values) {
    const token = need(values, 'token');
    const creds = await provision({
      fleetUrl: need(values, 'fleet'),
      token,
      gatewayId: need(values, 'id'),
      dir: (values.dir as string | undefined) ?? '/etc/citygate/fleet',
    });
    console.log(
      `provisioned ${creds.gateway}${creds.group ? ` (group ${creds.group})` : ''}: broker ${creds.mqttUrl}; credentials in ${
        (values.dir as string | undefined) ?? '/etc/citygate/fleet'
      }`,
    );
    return 0;
  },
};
