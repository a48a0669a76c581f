/**
 * The demo's district: gateways placed along real streets of Hoàn Kiếm, Hanoi, each with a mix of
 * street lights, waste bins, sometimes a drainage pump station, and cabinet I/O. Plain data.
 */
export interface GatewaySpec {
  id: string;
  name: string;
  lat: number;
  lon: number;
  lights: number;
  bins: number;
  pump: boolean;
  /** Lighting zone: the Old Quarter north of the lake, the lake itself, or the French Quarter south. */
  zone: 'old-quarter' | 'lake' | 'french-quarter';
}

function zoneOf(lat: number): GatewaySpec['zone'] {
  return lat >= 21.031 ? 'old-quarter' : lat >= 21.024 ? 'lake' : 'french-quarter';
}

const SITES: [string, number, number][] = [
  ['Đinh Tiên Hoàng north', 21.0322, 105.8533],
  ['Đinh Tiên Hoàng south', 21.0262, 105.8543],
  ['Lê Thái Tổ', 21.0295, 105.8504],
  ['Tràng Tiền', 21.0243, 105.8565],
  ['Hàng Bài', 21.021, 105.8523],
  ['Trần Hưng Đạo west', 21.0196, 105.8475],
  ['Trần Hưng Đạo east', 21.0189, 105.8575],
  ['Hàng Đào', 21.0362, 105.8508],
  ['Trần Quang Khải north', 21.035, 105.8572],
  ['Trần Quang Khải south', 21.0265, 105.859],
  ['Hàng Bông', 21.0305, 105.8468],
  ['Lý Thường Kiệt', 21.0232, 105.8495],
];

export function district(count: number, lightsPerGateway: number): GatewaySpec[] {
  return Array.from({ length: count }, (_, i) => {
    const [name, lat, lon] = SITES[i % SITES.length]!;
    const ring = Math.floor(i / SITES.length); // beyond 12, place further sites in rings around the first
    const at = { lat: lat + ring * 0.0011 * Math.cos(i), lon: lon + ring * 0.0011 * Math.sin(i) };
    return {
      id: `gw-${i + 1}`,
      name: ring ? `${name} ${ring + 1}` : name,
      ...at,
      zone: zoneOf(at.lat),
      lights: lightsPerGateway,
      bins: 2 + (i % 2),
      pump: i % 4 === 1, // drainage pump stations at low points
    };
  });
}
