/** A provisioned gateway's config path, as tests need it: mqtt.js + ConfigVerifier + config/reported. */
import { join } from 'node:path';
import mqtt from 'mqtt';
import { encode, PROTOCOL_VERSION, topics, type ConfigReported } from '../../../common/contract/index.js';
import { ConfigVerifier, type ConfigVerdict } from '../../../edge/src/config-verify.js';
import type { GatewayConfig } from '../../../edge/src/config.js';
import { mqttOptions, type FleetCredentials } from '../../../edge/src/provision.js';
import { loadProfiles } from '../../../hardware/src/profile.js';

const profiles = loadProfiles();

export async function configGateway(creds: FleetCredentials, dir: string) {
  const applied: { version: number; cfg: GatewayConfig }[] = [];
  const verdicts: ConfigVerdict[] = [];
  const verifier = new ConfigVerifier({
    gatewayId: creds.gateway,
    publicKeyPem: creds.configPublicKey,
    stateFile: join(dir, `${creds.gateway}-config-state.json`),
    profiles,
    localFleet: { mqttUrl: creds.mqttUrl, username: creds.username, password: creds.password },
    apply: async (cfg, version) => {
      applied.push({ cfg, version });
    },
  });
  const client = await mqtt.connectAsync(creds.mqttUrl, { ...mqttOptions(creds), reconnectPeriod: 0 });
  let seq = 0;
  client.on('message', (_t, payload) => {
    void verifier
      .handle(payload)
      .then(async (v) => {
        verdicts.push(v);
        const report: ConfigReported = {
          v: PROTOCOL_VERSION,
          gateway: creds.gateway,
          epoch: '0123456789abcdef',
          session: 1,
          seq: ++seq,
          sentAt: Date.now(),
          version: v.version,
          status: v.status,
          ...(v.status === 'rejected' ? { error: v.error } : {}),
        };
        await client.publishAsync(topics.configReported(creds.gateway), encode('config/reported', report), {
          qos: 1,
        });
      })
      .catch(() => undefined); // a test that closed the client does not wait for the report
  });
  await client.subscribeAsync(topics.configDesired(creds.gateway), { qos: 1 });
  return { client, applied, verdicts, verifier, creds };
}
