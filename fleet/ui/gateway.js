import { ago, api, can, CITY_TZ, esc, fmtValue, isFault } from './api.js';
import { outcome, writePoint } from './commands.js';
import { confirmDialog } from './dialog.js';
import { renderOverrideForm } from './override.js';

let chart;

async function drawChart(el, gw, key) {
  const [device, point] = key.split('.');
  const { readings } = await api(
    `/api/v1/gateways/${gw}/telemetry?device=${device}&point=${point}&limit=500`,
  );
  const rows = readings.slice().reverse();
  const data = [
    rows.map((r) => r.ts / 1000),
    rows.map((r) => (typeof r.value === 'boolean' ? Number(r.value) : r.value)),
  ];
  const unit = rows[0]?.unit ?? '';
  if (chart && chart.citygateKey === key) {
    chart.setData(data);
  } else {
    chart?.destroy();
    el.innerHTML = '';
    chart = new uPlot(
      {
        width: Math.max(280, el.clientWidth),
        height: 240,
        // Hanoi time on the axis and in the legend, not the browser's zone.
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), CITY_TZ),
        series: [{ label: 'Hanoi time' }, { label: `${key} ${unit}`, stroke: '#2563eb', width: 2 }],
        axes: [{}, { label: unit }],
      },
      data,
      el,
    );
    chart.citygateKey = key;
  }
  el.dataset.points = String(rows.length);
  el.dataset.last = String(rows.at(-1)?.ts ?? '');
}

export async function renderGateway(view, id, state) {
  const gw = await api(`/api/v1/gateways/${id}`);
  const { points } = await api(`/api/v1/gateways/${id}/latest`);
  const faults = points.filter(isFault);
  state.faults.set(id, faults.length);
  const selected = state.chart?.startsWith(`${id}:`)
    ? state.chart.slice(id.length + 1)
    : (points.find((p) => p.point === 'power') ?? points[0]) &&
      `${(points.find((p) => p.point === 'power') ?? points[0]).device}.${(points.find((p) => p.point === 'power') ?? points[0]).point}`;
  const options = points
    .filter((p) => typeof p.value === 'number')
    .map(
      (p) =>
        `<option ${`${p.device}.${p.point}` === selected ? 'selected' : ''}>${esc(p.device)}.${esc(p.point)}</option>`,
    )
    .join('');
  const rows = points
    .map(
      (p) =>
        `<tr class="${isFault(p) ? 'fault' : ''}"><td>${esc(p.device)}</td><td>${esc(p.point)}</td><td>${esc(fmtValue(p.value))}</td><td>${esc(p.unit ?? '')}</td><td class="muted">${ago(p.ts)}</td></tr>`,
    )
    .join('');
  const keep = view.querySelector('#chart');
  if (!keep || view.dataset.gw !== id) {
    view.dataset.gw = id;
    view.dataset.page = 'gw';
    chart?.destroy();
    chart = undefined;
    view.innerHTML = `<div class="grid gw">
      <section class="card"><h2>${esc(id)} <span class="dot ${gw.online ? (faults.length ? 'bad' : 'ok') : 'off'}"></span></h2>
        <p class="muted" id="gw-meta"></p>
        <label>Chart <select id="chart-point"></select></label><div id="chart" class="chart"></div></section>
      <section class="card"><h2>Health</h2><table id="gw-health"></table></section>
      <section class="card tall"><h2>Devices</h2><table><thead><tr><th>device</th><th>point</th><th>value</th><th>unit</th><th>read</th></tr></thead><tbody id="points"></tbody></table></section>
      ${can('operate') ? '<section class="card" id="gw-override"></section><section class="card" id="gw-write"></section>' : ''}
      <section class="card"><h2>Recent commands</h2><table><thead><tr><th>sent</th><th>command</th><th>by</th><th>result</th></tr></thead><tbody id="commands"></tbody></table></section>
    </div>`;
    if (can('operate')) {
      renderOverrideForm(view.querySelector('#gw-override'), [{ label: id, gateways: [id] }]);
      renderWriteForm(view.querySelector('#gw-write'), id, points);
    }
    view.querySelector('#chart-point').addEventListener('change', (e) => {
      state.chart = `${id}:${e.target.value}`;
      void drawChart(view.querySelector('#chart'), id, e.target.value);
    });
  }
  view.querySelector('#gw-meta').textContent =
    `${gw.online ? 'online' : 'offline'} · last seen ${ago(gw.lastSeen)} · session ${gw.session} · version ${gw.version ?? '?'} · ${gw.readings.toLocaleString('en')} readings · ${faults.length} fault(s)`;
  const sel = view.querySelector('#chart-point');
  if (sel.options.length !== points.filter((p) => typeof p.value === 'number').length)
    sel.innerHTML = options;
  view.querySelector('#points').innerHTML = rows;
  await renderHealth(view.querySelector('#gw-health'), id, gw);
  const { commands } = await api(`/api/v1/gateways/${id}/commands?limit=8`);
  view.querySelector('#commands').innerHTML = commands
    .map(
      (c) =>
        `<tr><td class="muted">${ago(c.sentAt)}</td><td>${esc(describe(c))}</td><td>${esc(c.by)}</td><td class="${c.status}">${esc(outcome(c))}</td></tr>`,
    )
    .join('');
  if (selected) await drawChart(view.querySelector('#chart'), id, sel.value || selected);
}

function describe(c) {
  if (c.name === 'write') return `write ${c.args.device}.${c.args.point} = ${c.args.value}`;
  if (c.name === 'override') {
    const n = Object.keys(c.args.set ?? {}).length;
    return `override ${n} point(s) for ${Math.round((c.args.durationMs ?? 0) / 60_000)} min: ${c.args.why ?? ''}`;
  }
  return c.name;
}

/** Write one point (through the gateway's scheduler and interlocks), after a confirmation. */
function renderWriteForm(el, gw, points) {
  const keys = points.map((p) => `${p.device}.${p.point}`);
  el.innerHTML = `<h2>Write a point</h2><form class="write">
    <label>Point <select name="key">${keys.map((k) => `<option>${esc(k)}</option>`).join('')}</select></label>
    <label>Value <input name="value" required placeholder="number, true or false"></label>
    <button type="submit" class="primary">Write…</button></form><p id="write-result" aria-live="polite"></p>`;
  const form = el.querySelector('form');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const [device, point] = String(f.get('key')).split('.');
    const raw = String(f.get('value')).trim();
    const value = raw === 'true' ? true : raw === 'false' ? false : Number(raw);
    const out = el.querySelector('#write-result');
    if (typeof value === 'number' && !Number.isFinite(value)) {
      out.className = 'error';
      out.textContent = `'${raw}' is not a number, true or false`;
      return;
    }
    if (!(await confirmDialog('Write a point', `Write ${device}.${point} = ${value} on ${gw}?`, 'Write')))
      return;
    out.className = 'muted';
    out.textContent = 'sending…';
    try {
      const r = await writePoint(gw, device, point, value);
      out.className = r.status;
      out.textContent = outcome(r);
    } catch (err) {
      out.className = 'error';
      out.textContent = `failed: ${err.message}`;
    }
  });
}

const age = (ms) => (ms < 60_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`);

/** Uplink, outbox (per class), lines and config drift, as the gateway last reported them. */
async function renderHealth(el, id, gw) {
  const [h, cfg, fl] = await Promise.all([
    api(`/api/v1/gateways/${id}/health`).catch(() => null),
    api(`/api/v1/gateways/${id}/config`).catch(() => null),
    api(`/api/v1/gateways/${id}/flows`).catch(() => null),
  ]);
  const row = (k, v, cls = '') => `<tr><th>${esc(k)}</th><td class="${cls}">${esc(v)}</td></tr>`;
  const rows = [row('software', gw.version ?? '?')];
  if (cfg)
    rows.push(
      row(
        'config',
        `${cfg.drift}${cfg.reported?.version ? ` (v${cfg.reported.version})` : ''}`,
        cfg.drift === 'rejected' ? 'error' : '',
      ),
    );
  rows.push(row('flows', flowsText(fl), fl?.drift || fl?.reported?.status === 'rejected' ? 'error' : ''));
  if (h?.uplink)
    rows.push(
      row('uplink', `${h.uplink.state}, session ${h.uplink.session}, ${h.uplink.inFlightMessages} in flight`),
    );
  if (h?.outbox) {
    for (const [k, c] of Object.entries(h.outbox.classes))
      rows.push(row(`outbox ${k}`, `${c.depth} rows${c.depth ? `, oldest ${age(c.oldestAgeMs)}` : ''}`));
    const ev = h.outbox.evicted;
    rows.push(
      row(
        'evicted',
        `${ev.telemetry} telemetry, ${ev.events} events`,
        ev.telemetry + ev.events ? 'error' : '',
      ),
    );
    if (h.outbox.diskFull) rows.push(row('disk', 'FULL', 'error'));
  }
  for (const l of h?.lines ?? [])
    rows.push(row(`line ${l.id}`, `${(l.utilisation * 100).toFixed(1)} % busy`));
  if (gw.missingMessages) rows.push(row('lost messages', String(gw.missingMessages), 'error'));
  el.innerHTML = rows.join('');
}

/** The gateway's Node-RED flow set: what the fleet assigned, and whether it runs it unmodified. */
function flowsText(f) {
  if (!f?.assigned) return 'none assigned';
  const set = `${f.assigned.name} v${f.assigned.version}`;
  if (f.drift) return `${set}: local edits (${f.drift.nodes} nodes) not taken in`;
  if (f.reported?.status === 'rejected')
    return `${set}: rejected (${f.reported.reason ?? f.reported.code ?? '?'})`;
  return f.inSync ? `${set}: in sync` : `${set}: deploying`;
}
