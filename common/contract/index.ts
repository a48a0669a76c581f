/**
 * The wire contract between gateways and the fleet: topics, payload types and their JSON Schemas.
 * Edge and fleet both import this module and nothing of each other. Each side validates what it
 * receives with `decode`.
 */
import { check } from '../json-schema.js';
import {
  commandRequestSchema,
  commandResponseSchema,
  configDesiredSchema,
  configReportedSchema,
  updateControlSchema,
  updateProgressSchema,
  type CommandRequest,
  type CommandResponse,
  type ConfigDesired,
  type ConfigReported,
  type UpdateControl,
  type UpdateProgress,
} from './control.js';
import { flowsDesiredSchema, flowsReportedSchema, type FlowsDesired, type FlowsReported } from './flows.js';
import {
  alarmBatchSchema,
  eventBatchSchema,
  gatewayStateSchema,
  telemetryBatchSchema,
  type AlarmBatch,
  type EventBatch,
  type GatewayState,
  type TelemetryBatch,
} from './payloads.js';
import type { Channel } from './topics.js';

export * from './topics.js';
export * from './payloads.js';
export * from './control.js';
export * from './flows.js';

export interface PayloadByChannel {
  telemetry: TelemetryBatch;
  events: EventBatch;
  alarms: AlarmBatch;
  state: GatewayState;
  'config/reported': ConfigReported;
  'cmd/res': CommandResponse;
  'update/progress': UpdateProgress;
  'config/desired': ConfigDesired;
  'cmd/req': CommandRequest;
  'update/control': UpdateControl;
  'flows/reported': FlowsReported;
  'flows/desired': FlowsDesired;
}

export const schemas: Record<Channel, object> = {
  telemetry: telemetryBatchSchema,
  events: eventBatchSchema,
  alarms: alarmBatchSchema,
  state: gatewayStateSchema,
  'config/reported': configReportedSchema,
  'cmd/res': commandResponseSchema,
  'update/progress': updateProgressSchema,
  'config/desired': configDesiredSchema,
  'cmd/req': commandRequestSchema,
  'update/control': updateControlSchema,
  'flows/reported': flowsReportedSchema,
  'flows/desired': flowsDesiredSchema,
};

export type Decoded<C extends Channel> =
  { ok: true; value: PayloadByChannel[C] } | { ok: false; error: string };

/** Parse and validate a payload received on `channel` of `gatewayId`'s namespace. Never throws. */
export function decode<C extends Channel>(
  channel: C,
  gatewayId: string,
  payload: Buffer | string,
): Decoded<C> {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString());
  } catch (err) {
    return { ok: false, error: `${channel} payload is not JSON: ${(err as Error).message}` };
  }
  const result = check<PayloadByChannel[C]>(schemas[channel], json);
  if (!result.ok) return { ok: false, error: `${channel} payload: ${result.issues.join('; ')}` };
  if (result.value.gateway !== gatewayId) {
    return {
      ok: false,
      error: `${channel} payload names gateway '${result.value.gateway}' on ${gatewayId}'s topic`,
    };
  }
  return result;
}

export function encode<C extends Channel>(_channel: C, payload: PayloadByChannel[C]): string {
  return JSON.stringify(payload);
}
