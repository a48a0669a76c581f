import { api, ApiError, can, CITY_TZ, esc } from './api.js';
import { confirmDialog } from './dialog.js';

const when = (ts) => (ts ? new Date(ts).toLocaleString('en-GB', { timeZone: CITY_TZ }) : '');
const plural = (n) => `${n} gateway${n === 1 ? '' : 's'}`;
const failure = (err) =>
  `<p class="error" role="alert">${err instanceof ApiError && err.status === 403 ? 'Not allowed: ' : ''}${esc(err.message)}</p>`;

/** One gateway's flow state for the table and its colour (ok, warn, bad, off). */
export function flowState(g) {
  const r = g.reported;
  if (g.drift) return { label: 'drift', cls: 'warn', detail: `local edits, ${g.drift.nodes} nodes` };
  if (r?.status === 'rejected')
    return {
      label: 'rejected',
      cls: 'bad',
      detail: `v${r.offered ?? '?'}: ${r.code ?? ''} ${r.reason ?? ''}`,
    };
  if (g.inSync) return { label: r.status, cls: 'ok', detail: '' };
  if (g.assigned) return { label: 'deploying', cls: 'warn', detail: '' };
  return { label: r?.status ?? 'no report', cls: 'off', detail: '' };
}

/**
 * Node-RED flow sets: every version, each gateway's state (applied / rejected / drift), deploy a
 * version to a gateway or a zone, and take a gateway's local edits in as a new version. Controls only
 * for roles that may configure. Built once per visit; the 2 s refresh replaces the lists only.
 */
export async function renderFlows(view) {
  const [{ flowSets }, { gateways }, { sites }] = await Promise.all([
    api('/api/v1/flow-sets'),
    api('/api/v1/flow-sets/status'),
    api('/api/v1/sites'),
  ]);
  if (view.dataset.page !== 'flows') {
    view.dataset.page = 'flows';
    view.innerHTML = `<div class="grid">
      <section class="card"><h2>Gateways</h2><table id="flow-status"><thead><tr><th>gateway</th><th>state</th><th>assigned</th><th>running</th><th>reported (Hanoi)</th><th></th></tr></thead><tbody></tbody></table>
        <p class="muted">Gateways without Node-RED report no flows and are not listed.</p><div id="flow-msg"></div></section>
      <section class="card"><h2>Flow sets</h2><div id="flow-sets"></div><div id="flow-deploy"></div></section></div>`;
    if (can('configure')) buildDeploy(view.querySelector('#flow-deploy'));
  }
  const list = view.querySelector('#flow-sets');
  list.innerHTML = flowSets.length
    ? flowSets
        .map(
          (s) =>
            `<h3>${esc(s.name)}</h3><table class="versions" data-set="${esc(s.name)}"><tbody>${s.versions
              .slice()
              .reverse()
              .map(
                (v) =>
                  `<tr data-version="${v.version}"><td>v${v.version}</td><td>${v.nodes} nodes</td><td>${esc(when(v.createdAt))}</td><td class="muted">${v.source.startsWith('drift:') ? `taken in from ${esc(v.source.slice(6))}` : esc(v.source)}</td></tr>`,
              )
              .join('')}</tbody></table>`,
        )
        .join('')
    : '<p class="muted">No flow sets yet. Publish one with <code>POST /api/v1/flow-sets/&lt;name&gt;</code>, or take a gateway\'s local flows in.</p>';
  const deploy = view.querySelector('#flow-deploy form');
  if (deploy) deploy.update(flowSets, sites, gateways);
  const body = view.querySelector('#flow-status tbody');
  // Someone types a new set's name: leave the rows alone until they are done.
  if (document.activeElement?.matches('input') && body.contains(document.activeElement)) return;
  body.innerHTML = gateways.length
    ? gateways.map(statusRow).join('')
    : '<tr><td colspan="6" class="muted">no gateway has reported flows yet</td></tr>';
  body.querySelectorAll('button.take-in').forEach((b) => b.addEventListener('click', () => takeIn(view, b)));
}

function statusRow(g) {
  const s = flowState(g);
  const r = g.reported;
  const takeIn =
    g.drift && can('configure')
      ? `${r?.name === 'local' ? '<input name="set" placeholder="new set name" aria-label="new flow set name" pattern="[a-z0-9][a-z0-9-]*" size="12"> ' : ''}<button type="button" class="take-in">Take in…</button>`
      : '';
  return `<tr data-gw="${esc(g.gateway)}" data-local="${r?.name === 'local'}"><td><span class="dot ${s.cls}"></span>${esc(g.gateway)}</td>
    <td><span class="state ${s.cls}">${esc(s.label)}</span> ${esc(s.detail)}</td>
    <td>${g.assigned ? `${esc(g.assigned.name)} v${g.assigned.version}` : ''}</td>
    <td>${r ? `${esc(r.name)}${r.version ? ` v${r.version}` : ''}` : ''}</td><td>${esc(when(r?.receivedAt))}</td><td>${takeIn}</td></tr>`;
}

async function takeIn(view, b) {
  const row = b.closest('tr');
  const gw = row.dataset.gw;
  const name = row.querySelector('input[name=set]')?.value.trim();
  const msg = view.querySelector('#flow-msg');
  if (row.dataset.local === 'true' && !name) {
    msg.innerHTML = `<p class="error" role="alert">${esc(gw)} runs its own flows, not a fleet flow set: name the new set</p>`;
    return;
  }
  const what = name ? `a new flow set '${name}'` : 'the next version of its flow set';
  if (!(await confirmDialog('Take in local flows', `Take ${gw}'s running flows in as ${what}?`, 'Take in')))
    return;
  try {
    const v = await api(`/api/v1/gateways/${gw}/flows/take-in`, {
      method: 'POST',
      body: JSON.stringify(name ? { name } : {}),
    });
    msg.innerHTML = `<p class="ok" role="status">${esc(gw)}'s flows are now ${esc(v.name)} v${v.version} (${v.nodes} nodes)</p>`;
  } catch (err) {
    msg.innerHTML = failure(err);
  }
  await renderFlows(view); // the new version, and the gateway's new state
}

/** The deploy form: a version, a gateway or a zone, a confirmation naming the count, then each result. */
function buildDeploy(el) {
  el.innerHTML = `<h2>Deploy</h2><form class="write" id="deploy-form">
    <label>Version <select name="version" required></select></label>
    <label>Where <select name="target" required></select></label>
    <button type="submit" class="primary">Deploy…</button></form>
    <table class="results" hidden><thead><tr><th>gateway</th><th>result</th></tr></thead><tbody></tbody></table><div class="msg"></div>`;
  const form = el.querySelector('form');
  let targets = [];
  let status = [];
  const fill = (select, options) => {
    const html = options.map(([v, label]) => `<option value="${esc(v)}">${esc(label)}</option>`).join('');
    if (select.dataset.html === html) return;
    const keep = select.value;
    select.innerHTML = html;
    select.dataset.html = html;
    if (options.some(([v]) => v === keep)) select.value = keep;
  };
  form.update = (flowSets, sites, gws) => {
    status = gws;
    const versions = flowSets.flatMap((s) =>
      s.versions
        .slice()
        .reverse()
        .map((v) => [`${s.name}@${v.version}`, `${s.name} v${v.version}`]),
    );
    const zones = [...new Set(sites.map((s) => s.zone).filter(Boolean))].sort();
    targets = [
      ...sites.map((s) => ({
        key: `gw:${s.id}`,
        label: `gateway ${s.id}`,
        where: '',
        body: { gateway: s.id },
        ids: [s.id],
      })),
      ...zones.map((z) => {
        const ids = sites.filter((s) => s.zone === z).map((s) => s.id);
        const label = `zone ${z} (${plural(ids.length)})`;
        return { key: `zone:${z}`, label, where: ` in zone ${z}`, body: { zone: z }, ids };
      }),
    ];
    fill(form.elements.version, versions);
    fill(
      form.elements.target,
      targets.map((t) => [t.key, t.label]),
    );
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const [name, version] = form.elements.version.value.split('@');
    const target = targets.find((t) => t.key === form.elements.target.value);
    if (!name || !target) return;
    const local = status.filter((g) => target.ids.includes(g.gateway) && g.drift).map((g) => g.gateway);
    const text =
      `Deploy ${name} v${version} to ${plural(target.ids.length)}${target.where}: ${target.ids.join(', ')}?` +
      (local.length ? ` Local edits on ${local.join(', ')} will be replaced.` : '');
    if (!(await confirmDialog('Deploy flow set', text, 'Deploy'))) return;
    const results = el.querySelector('table.results');
    const msg = el.querySelector('.msg');
    msg.innerHTML = '';
    const before = new Map(status.map((g) => [g.gateway, g.reported?.receivedAt]));
    try {
      const r = await api(`/api/v1/flow-sets/${name}/deploy`, {
        method: 'POST',
        body: JSON.stringify({ version: Number(version), ...target.body }),
      });
      results.hidden = false;
      results.querySelector('tbody').innerHTML = r.gateways
        .map((g) => `<tr data-gw="${esc(g)}"><td>${esc(g)}</td><td class="muted">pending</td></tr>`)
        .join('');
      await follow(el, r, before);
    } catch (err) {
      msg.innerHTML = failure(err);
    }
  });
}

/** Poll the status until each gateway applied or rejected this version (or a minute passed). */
async function follow(el, dep, before) {
  const open = new Set(dep.gateways);
  const until = Date.now() + 60_000;
  while (open.size && Date.now() < until && el.isConnected) {
    const { gateways } = await api('/api/v1/flow-sets/status').catch(() => ({ gateways: [] }));
    for (const g of gateways.filter((x) => open.has(x.gateway))) {
      const r = g.reported;
      const fresh = r && r.receivedAt !== before.get(g.gateway);
      const mine = g.assigned?.name === dep.name && g.assigned?.version === dep.version;
      let cell;
      if (mine && g.inSync) cell = `<td class="ok">applied v${dep.version}</td>`;
      else if (fresh && r.status === 'rejected' && r.offered === dep.version)
        cell = `<td class="error">rejected: ${esc(r.code ?? '')} ${esc(r.reason ?? '')}</td>`;
      if (!cell) continue;
      open.delete(g.gateway);
      const row = el.querySelector(`table.results tr[data-gw="${g.gateway}"]`);
      if (row) row.innerHTML = `<td>${esc(g.gateway)}</td>${cell}`;
    }
    if (open.size) await new Promise((res) => setTimeout(res, 1000));
  }
  for (const g of open) {
    const row = el.querySelector(`table.results tr[data-gw="${g}"]`);
    if (row)
      row.innerHTML = `<td>${esc(g)}</td><td class="muted">no answer yet (offline or no Node-RED?)</td>`;
  }
}
