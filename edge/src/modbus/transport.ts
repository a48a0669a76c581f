import ModbusSerial from 'modbus-serial';
import type { Table } from '../../../hardware/src/profile.js';
import { exceptionError, ModbusError } from './errors.js';

// modbus-serial is CommonJS whose module.exports is the client class; its typings call that `default`.
const ModbusRTU = ModbusSerial as unknown as typeof ModbusSerial.default;
type ModbusClient = InstanceType<typeof ModbusRTU>;

/** The small interface every Modbus transport (TCP now; RTU with the device-layer work) implements. */
export interface ModbusTransport {
  readonly description: string;
  open(): Promise<void>;
  close(): Promise<void>;
  isOpen(): boolean;
  /** Registers as uint16 words, or bits as 0/1. */
  read(unit: number, table: Table, address: number, count: number): Promise<number[]>;
  write(unit: number, table: 'coil' | 'holding', address: number, values: readonly number[]): Promise<void>;
}

interface RawModbusError {
  modbusCode?: number;
  errno?: string;
  name?: string;
  message?: string;
}

/** Modbus TCP through modbus-serial. One transaction at a time; the line scheduler guarantees that. */
export class TcpTransport implements ModbusTransport {
  private client: ModbusClient = new ModbusRTU();
  readonly description: string;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly timeoutMs = 1000,
  ) {
    this.description = `tcp://${host}:${port}`;
  }

  async open(): Promise<void> {
    this.client = new ModbusRTU();
    this.client.setTimeout(this.timeoutMs);
    try {
      await this.client.connectTCP(this.host, { port: this.port });
    } catch (err) {
      throw new ModbusError(
        'connection',
        `cannot connect to ${this.description}: ${(err as Error).message}`,
        undefined,
        {
          cause: err,
        },
      );
    }
  }

  isOpen(): boolean {
    return this.client.isOpen;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.client.isOpen) return resolve();
      this.client.close(() => resolve());
    });
  }

  private wrap(err: unknown, unit: number, what: string): ModbusError {
    const e = err as RawModbusError;
    const where = `unit ${unit} ${what} on ${this.description}`;
    if (typeof e.modbusCode === 'number') return exceptionError(e.modbusCode, where);
    if (e.name === 'TransactionTimedOutError' || e.errno === 'ETIMEDOUT')
      return new ModbusError('timeout', `${where}: no answer within ${this.timeoutMs} ms`);
    if (/CRC/i.test(e.message ?? '')) return new ModbusError('crc', `${where}: ${e.message}`);
    return new ModbusError('connection', `${where}: ${e.message ?? String(err)}`, undefined, { cause: err });
  }

  async read(unit: number, table: Table, address: number, count: number): Promise<number[]> {
    this.client.setID(unit);
    try {
      switch (table) {
        case 'coil':
          return (await this.client.readCoils(address, count)).data.slice(0, count).map(Number);
        case 'discrete':
          return (await this.client.readDiscreteInputs(address, count)).data.slice(0, count).map(Number);
        case 'holding':
          return (await this.client.readHoldingRegisters(address, count)).data;
        case 'input':
          return (await this.client.readInputRegisters(address, count)).data;
      }
    } catch (err) {
      throw this.wrap(err, unit, `read ${table} ${address}+${count}`);
    }
  }

  async write(
    unit: number,
    table: 'coil' | 'holding',
    address: number,
    values: readonly number[],
  ): Promise<void> {
    this.client.setID(unit);
    try {
      if (table === 'coil') {
        if (values.length === 1) await this.client.writeCoil(address, values[0] !== 0);
        else
          await this.client.writeCoils(
            address,
            values.map((v) => v !== 0),
          );
      } else if (values.length === 1) {
        await this.client.writeRegister(address, values[0]!);
      } else {
        await this.client.writeRegisters(address, [...values]);
      }
    } catch (err) {
      throw this.wrap(err, unit, `write ${table} ${address}`);
    }
  }
}
