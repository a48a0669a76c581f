// Small fetch helpers for the fleet API; errors carry the API's own message and HTTP status.
const TOKEN_KEY = 'citygate-token';

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  },
  set token(t) {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
  /** { name, role } of the logged-in token, or null when the fleet runs without authentication. */
  me: null,
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(path, options = {}) {
  const headers = {
    ...(options.body ? { 'content-type': 'application/json' } : {}),
    ...(session.token ? { authorization: `Bearer ${session.token}` } : {}),
  };
  const res = await fetch(path, { ...options, headers });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, body?.error?.message ?? `${res.status} ${res.statusText}`);
  return body;
}

export const esc = (s) =>
  String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );

export function fmtValue(v) {
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v !== 'number') return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : String(Number(v.toPrecision(4)));
}

/** Age relative to the fleet's clock (the demo's clock can run faster than real time). */
/** The city's time zone: charts and times on the dashboard are in Hanoi time, whatever the browser's. */
export const CITY_TZ = 'Asia/Ho_Chi_Minh';

export function ago(ts, now = Date.now()) {
  const s = Math.max(0, Math.round((now - ts) / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}

/** A fault flag that is set: a boolean point named like a fault (lamp-fault, pump1-thermal-trip, fire…). */
export const isFault = (p) => p.value === true && /fault|trip|alarm|fire|tilt|flood/.test(p.point);

/** Health of a gateway for colouring: off (offline), bad (faults), ok. */
export function health(gw, faults = 0) {
  if (!gw.online) return 'off';
  if (faults > 0) return 'bad';
  return 'ok';
}

export const can = (permission) => {
  if (!session.me) return true; // no authentication on this fleet (demo on loopback)
  const grants = {
    viewer: ['read'],
    technician: ['read', 'operate', 'provision'],
    operator: ['read', 'operate', 'configure'],
    admin: ['read', 'operate', 'provision', 'configure', 'admin'],
  };
  return (grants[session.me.role] ?? []).includes(permission);
};
