import { renderAlarms } from './alarms.js';
import { api, can, esc, health, isFault } from './api.js';
import { renderOverrideForm } from './override.js';

let geo;

/** Equirectangular projection of the district's bounding box into the SVG's viewBox. */
function projector(features, width, height, pad = 20) {
  const pts = features.flatMap((f) =>
    f.geometry.type === 'Polygon' ? f.geometry.coordinates.flat() : f.geometry.coordinates,
  );
  const lons = pts.map((p) => p[0]);
  const lats = pts.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
  const k = Math.cos((((y0 + y1) / 2) * Math.PI) / 180); // shrink longitude at this latitude
  const s = Math.min((width - 2 * pad) / ((x1 - x0) * k), (height - 2 * pad) / (y1 - y0));
  return ([lon, lat]) => [pad + (lon - x0) * k * s, height - pad - (lat - y0) * s];
}

export async function renderMap(view, state) {
  geo ??= await (await fetch('/ui/maps/hoan-kiem.geojson')).json();
  const [{ gateways }, { sites }] = await Promise.all([api('/api/v1/gateways'), api('/api/v1/sites')]);
  const W = 800,
    H = 700;
  const project = projector(
    geo.features.filter((f) => f.properties.kind === 'district'),
    W,
    H,
  );
  const path = (coords) =>
    coords
      .map(
        (c, i) =>
          `${i ? 'L' : 'M'}${project(c)
            .map((n) => n.toFixed(1))
            .join(',')}`,
      )
      .join(' ');
  const shapes = geo.features
    .map((f) => {
      const k = f.properties.kind;
      if (f.geometry.type === 'Polygon')
        return `<path class="${k}" d="${path(f.geometry.coordinates[0])} Z"><title>${esc(f.properties.name)}</title></path>`;
      const [x, y] = project(f.geometry.coordinates[0]);
      return `<path class="street" d="${path(f.geometry.coordinates)}"></path><text class="street-label" x="${x + 4}" y="${y - 4}">${esc(f.properties.name)}</text>`;
    })
    .join('');
  // Colour by health: offline, or with active alarms (critical/major/minor), or fine.
  const { alarms } = await api('/api/v1/alarms?active=true');
  state.faults.clear();
  for (const a of alarms) state.faults.set(a.gateway, (state.faults.get(a.gateway) ?? 0) + 1);
  const byId = new Map(gateways.map((g) => [g.id, g]));
  const devices = await deviceHealth(sites, byId, state);
  const markers = sites
    .map((s) => {
      const g = byId.get(s.id) ?? { id: s.id, online: false };
      const [x, y] = project([s.lon, s.lat]);
      const h = health(g, state.faults.get(s.id) ?? 0);
      const devs = devices.get(s.id) ?? [];
      // The gateway's devices on a ring around it, each coloured by its own health.
      const dots = devs
        .map((d, i) => {
          const a = (2 * Math.PI * i) / devs.length - Math.PI / 2;
          const [dx, dy] = [x + 19 * Math.cos(a), y + 19 * Math.sin(a)];
          return `<circle class="dev ${d.health}" data-device="${esc(d.id)}" cx="${dx.toFixed(1)}" cy="${dy.toFixed(1)}" r="3.2"><title>${esc(s.id)} ${esc(d.id)}: ${d.health === 'bad' ? esc(d.faults.join(', ')) : d.health}</title></circle>`;
        })
        .join('');
      return `<g data-gw="${esc(s.id)}">${dots}<circle class="gw ${h}" cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="11"><title>${esc(s.name)} (${esc(s.id)}): ${h}</title></circle><text class="gw-label" x="${(x + 22).toFixed(1)}" y="${(y + 4).toFixed(1)}">${esc(s.id)}</text></g>`;
    })
    .join('');
  const rows = gateways
    .map((g) => {
      const site = sites.find((s) => s.id === g.id);
      const h = health(g, state.faults.get(g.id) ?? 0);
      return `<tr class="clickable" data-gw="${esc(g.id)}"><td><span class="dot ${h}"></span>${esc(g.id)}</td><td>${esc(site?.name ?? '')}</td><td>${esc(site?.zone ?? '')}</td><td>${g.readings.toLocaleString('en')}</td></tr>`;
    })
    .join('');
  if (view.dataset.page !== 'map') {
    // Built once per visit; the 2 s refresh only replaces the map, the table and the alarms.
    view.dataset.page = 'map';
    view.innerHTML = `<div class="grid">
    <section class="card"><h2>Hoàn Kiếm district</h2><div id="map-svg"></div>
      <p class="muted"><span class="dot ok"></span>healthy <span class="dot bad"></span>active alarm <span class="dot off"></span>offline</p></section>
    <section class="card"><div id="alarm-panel"></div><div id="override-panel"></div><h2>Gateways</h2><table id="gateways"><thead><tr><th>gateway</th><th>site</th><th>zone</th><th>readings</th></tr></thead><tbody></tbody></table></section>
  </div>`;
    if (can('operate')) {
      const zones = [...new Set(sites.map((s) => s.zone).filter(Boolean))].sort();
      renderOverrideForm(view.querySelector('#override-panel'), [
        { label: 'whole district', gateways: sites.map((s) => s.id) },
        ...zones.map((z) => ({
          label: `zone ${z}`,
          gateways: sites.filter((s) => s.zone === z).map((s) => s.id),
        })),
      ]);
    }
  }
  view.querySelector('#map-svg').innerHTML =
    `<svg class="map" viewBox="0 0 ${W} ${H}" role="img" aria-label="map of gateways">${shapes}${markers}</svg>`;
  view.querySelector('#gateways tbody').innerHTML = rows;
  view
    .querySelectorAll('#map-svg [data-gw], #gateways tr[data-gw]')
    .forEach((el) => el.addEventListener('click', () => (location.hash = `#/gw/${el.dataset.gw}`)));
  await renderAlarms(view.querySelector('#alarm-panel'));
}

/**
 * Each gateway's devices and their health (bad: a fault flag set; off: gateway offline), from the
 * gateways' latest readings. Refreshed every 10 s, and only for a district-sized map (≤ 60 gateways).
 */
async function deviceHealth(sites, byId, state) {
  if (sites.length > 60) return new Map();
  if (state.devices && Date.now() - state.devices.at < 10_000) return state.devices.map;
  const map = new Map();
  await Promise.all(
    sites.map(async (s) => {
      const g = byId.get(s.id);
      if (!g) return;
      const { points } = await api(`/api/v1/gateways/${s.id}/latest`).catch(() => ({ points: [] }));
      const byDevice = new Map();
      for (const p of points) {
        const d = byDevice.get(p.device) ?? { id: p.device, faults: [] };
        if (isFault(p)) d.faults.push(p.point);
        byDevice.set(p.device, d);
      }
      map.set(
        s.id,
        [...byDevice.values()].map((d) => ({
          ...d,
          health: !g.online ? 'off' : d.faults.length ? 'bad' : 'ok',
        })),
      );
    }),
  );
  state.devices = { at: Date.now(), map };
  return map;
}
