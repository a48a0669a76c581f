/** Prometheus text exposition (version 0.0.4) of the fleet's counters and gauges. */
import type { ConfigLink } from '../desired-config/mqtt-link.js';
import type { DesiredConfigService } from '../desired-config/service.js';
import type { GatewayRegistry } from '../provisioning/registry.js';

const name = (s: string) => s.replace(/[^a-zA-Z0-9_]/g, '_');

export async function renderMetrics(d: {
  registry: GatewayRegistry;
  config: DesiredConfigService;
  link: ConfigLink;
  extra?: () => Record<string, number>;
}): Promise<string> {
  const creds = await d.registry.list();
  const drift = await d.config.counts();
  const out: string[] = [];
  const metric = (n: string, type: 'gauge' | 'counter', help: string, samples: [string, number][]) => {
    out.push(`# HELP ${n} ${help}`, `# TYPE ${n} ${type}`);
    for (const [labels, v] of samples) out.push(`${n}${labels} ${v}`);
  };
  metric('citygate_fleet_gateways_provisioned', 'gauge', 'Gateways with credentials, by state.', [
    ['{state="active"}', creds.filter((c) => !c.revokedAt).length],
    ['{state="revoked"}', creds.filter((c) => c.revokedAt).length],
  ]);
  metric('citygate_fleet_config_gateways', 'gauge', 'Managed gateways by desired-vs-reported config.', [
    ['{drift="in-sync"}', drift.inSync],
    ['{drift="pending"}', drift.pending],
    ['{drift="rejected"}', drift.rejected],
  ]);
  metric('citygate_fleet_config_reports_total', 'counter', 'config/reported messages received since start.', [
    ['{status="applied"}', d.link.stats.applied],
    ['{status="rejected"}', d.link.stats.rejected],
    ['{status="invalid"}', d.link.stats.invalid],
  ]);
  for (const [k, v] of Object.entries(d.extra?.() ?? {}))
    metric(`citygate_fleet_${name(k)}`, k.endsWith('_total') ? 'counter' : 'gauge', k, [['', v]]);
  return out.join('\n') + '\n';
}
