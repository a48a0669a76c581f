/** The bench's readings and the wire payloads a gateway would send for them (both sides use the same). */
export const BATCH = 500;

/** Readings each sender sends before the measurement, so it runs warm (JIT-compiled) code. */
export const WARM_UP = 5 * BATCH;

export const reading = (i: number) => ({
  device: 'meter-1',
  point: `p${i % 8}`,
  value: i * 0.5,
  unit: 'kWh',
  ts: 1_763_856_000_000 + i,
});

export const readings = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => reading(from + i));

/** The payloads the uplink would send, pre-serialised, for the raw publisher. */
export function rawPayloads(gw: string, rows: number): string[] {
  const out: string[] = [];
  for (let i = 0, seq = 1; i < rows; i += BATCH, seq++) {
    const rs = readings(i, Math.min(BATCH, rows - i)).map((r, j) => ({ ...r, id: i + j + 1 }));
    out.push(
      JSON.stringify({
        v: 1,
        gateway: gw,
        epoch: '0123456789abcdef',
        session: 1,
        seq,
        sentAt: Date.now(),
        evicted: { telemetry: 0, events: 0 },
        readings: rs,
      }),
    );
  }
  return out;
}
