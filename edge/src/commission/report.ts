import type { CheckItem } from './checklist.js';

/** What a commissioning run leaves behind: on the gateway, and (through the outbox) at the fleet. */
export interface CommissioningReport {
  gateway: string;
  by: string;
  startedAt: number;
  finishedAt: number;
  passed: boolean;
  items: CheckItem[];
  readings: { device: string; point: string; value: number | boolean; unit?: string; ts: number }[];
}

export const commissioningReportSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['by', 'startedAt', 'finishedAt', 'passed', 'items', 'readings'],
  properties: {
    gateway: { type: 'string' },
    by: { type: 'string', minLength: 1, maxLength: 100 },
    startedAt: { type: 'integer', minimum: 0 },
    finishedAt: { type: 'integer', minimum: 0 },
    passed: { type: 'boolean' },
    items: {
      type: 'array',
      maxItems: 1000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'title', 'status', 'detail'],
        properties: {
          id: { type: 'string', maxLength: 200 },
          title: { type: 'string', maxLength: 200 },
          status: { enum: ['pass', 'fail', 'warn', 'pending'] },
          detail: { type: 'string', maxLength: 2000 },
        },
      },
    },
    readings: {
      type: 'array',
      maxItems: 10000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['device', 'point', 'value', 'ts'],
        properties: {
          device: { type: 'string' },
          point: { type: 'string' },
          value: { type: ['number', 'boolean'] },
          unit: { type: 'string' },
          ts: { type: 'integer' },
        },
      },
    },
  },
} as const;
