import { CityGateError } from '../../../common/errors.js';

export const EXCEPTION_NAMES: Record<number, string> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

/** A Modbus transaction failed: `code` is timeout | exception | connection | crc | framing. */
export class ModbusError extends CityGateError {
  constructor(
    code: 'timeout' | 'exception' | 'connection' | 'crc' | 'framing',
    message: string,
    readonly modbusCode?: number,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'ModbusError';
  }
}

export function exceptionError(code: number, where: string): ModbusError {
  const name = EXCEPTION_NAMES[code] ?? 'unknown exception';
  return new ModbusError('exception', `${where}: Modbus exception ${code} (${name})`, code);
}
