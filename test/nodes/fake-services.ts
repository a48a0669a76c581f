import { EventEmitter } from 'node:events';
import { FakeClock } from '../../common/clock.js';
import { CityGateError } from '../../common/errors.js';
import type { PointReading } from '../../edge/src/modbus/line.js';
import {
  timeFunctions,
  type AlarmRaise,
  type DeviceInfo,
  type EdgeServices,
} from '../../edge/src/node-red/services.js';

/** EdgeServices over plain memory, recording what the nodes did. */
export class FakeServices implements EdgeServices {
  readonly gatewayId = 'gw-test';
  readonly clock: FakeClock;
  readonly location = { lat: 21.0285, lon: 105.8542, timeZone: 'Asia/Ho_Chi_Minh' };
  readonly events = new EventEmitter();
  readonly writes: [string, string, number | boolean][] = [];
  readonly alarms: (['raise', AlarmRaise] | ['clear', string, string | undefined])[] = [];
  readonly telemetry: [string, unknown][] = [];
  refuse = new Set<string>();
  readonly nextTime: EdgeServices['nextTime'];
  readonly lastTime: EdgeServices['lastTime'];

  constructor(
    private readonly deviceList: DeviceInfo[] = [
      { id: 'light-1', profile: 'citygate/slc-100', points: [] },
      { id: 'light-2', profile: 'citygate/slc-100', points: [] },
      { id: 'pump-station', profile: 'citygate/psc-200', points: [] },
    ],
    clock = new FakeClock(Date.UTC(2026, 5, 1, 5, 0)),
  ) {
    this.clock = clock;
    const tf = timeFunctions(this.location);
    this.nextTime = tf.nextTime;
    this.lastTime = tf.lastTime;
  }
  devices(): DeviceInfo[] {
    return this.deviceList;
  }
  latest(): PointReading | undefined {
    return undefined;
  }
  onReadings(fn: (rs: PointReading[]) => void): () => void {
    this.events.on('readings', fn);
    return () => this.events.off('readings', fn);
  }
  onDeviceState(fn: (d: string, online: boolean, reason: string) => void): () => void {
    this.events.on('device', fn);
    return () => this.events.off('device', fn);
  }
  listeners(): number {
    return this.events.listenerCount('readings') + this.events.listenerCount('device');
  }
  emitReadings(rs: Omit<PointReading, 'ts'>[]): void {
    this.events.emit(
      'readings',
      rs.map((r) => ({ ...r, ts: this.clock.now() })),
    );
  }
  async write(device: string, point: string, value: number | boolean): Promise<void> {
    if (this.refuse.has(`${device}.${point}`))
      throw new CityGateError('interlock', `interlock refuses ${device}.${point}`);
    this.writes.push([device, point, value]);
  }
  async raiseAlarm(a: AlarmRaise): Promise<void> {
    this.alarms.push(['raise', a]);
  }
  async clearAlarm(id: string, device?: string): Promise<void> {
    this.alarms.push(['clear', id, device]);
  }
  async publishTelemetry(stream: string, body: unknown): Promise<void> {
    this.telemetry.push([stream, body]);
  }
}
