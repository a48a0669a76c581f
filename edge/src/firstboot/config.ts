import { ID_PATTERN } from '../../../common/contract/index.js';

/** What a technician puts on the boot partition for the gateway's first boot: `citygate-firstboot.json`. */
export interface FirstBootConfig {
  version: 1;
  hostname: string;
  fleetUrl: string;
  claimToken?: string;
  timezone: string;
  board: string;
  network: {
    ethernet?: { dhcp: true } | { address: string; gateway: string; dns?: string[] };
    wifi?: { ssid: string; psk: string; country: string };
  };
}

export const FIRSTBOOT_FILE = 'citygate-firstboot.json';

export const firstBootSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'hostname', 'fleetUrl', 'timezone', 'board', 'network'],
  properties: {
    version: { const: 1 },
    hostname: { type: 'string', pattern: ID_PATTERN },
    fleetUrl: { type: 'string', pattern: '^https?://[^\\s]+$' },
    claimToken: { type: 'string', pattern: '^[A-Za-z0-9_-]{16,128}$' },
    timezone: { type: 'string', pattern: '^[A-Za-z_]+(/[A-Za-z_+-]+)*$' },
    board: { type: 'string', pattern: '^[a-z0-9-]+/[a-z0-9-]+$' },
    network: {
      type: 'object',
      additionalProperties: false,
      properties: {
        ethernet: {
          anyOf: [
            {
              type: 'object',
              additionalProperties: false,
              required: ['dhcp'],
              properties: { dhcp: { const: true } },
            },
            {
              type: 'object',
              additionalProperties: false,
              required: ['address', 'gateway'],
              properties: {
                address: { type: 'string', pattern: '^\\d{1,3}(\\.\\d{1,3}){3}/\\d{1,2}$' },
                gateway: { type: 'string', pattern: '^\\d{1,3}(\\.\\d{1,3}){3}$' },
                dns: { type: 'array', items: { type: 'string', pattern: '^\\d{1,3}(\\.\\d{1,3}){3}$' } },
              },
            },
          ],
        },
        wifi: {
          type: 'object',
          additionalProperties: false,
          required: ['ssid', 'psk', 'country'],
          properties: {
            ssid: { type: 'string', minLength: 1, maxLength: 32 },
            psk: { type: 'string', minLength: 8, maxLength: 63 },
            country: { type: 'string', pattern: '^[A-Z]{2}$' },
          },
        },
      },
    },
  },
} as const;
