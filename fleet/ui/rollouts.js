import { api, can, esc } from './api.js';
import { confirmDialog } from './dialog.js';

const bar = (w) => {
  const pct = (n) => (w.total ? (100 * n) / w.total : 0).toFixed(1);
  return `<div class="bar" role="img" aria-label="${w.committed} of ${w.total} updated, ${w.failed} failed">
    <span class="committed" style="width:${pct(w.committed)}%"></span><span class="failed" style="width:${pct(w.failed)}%"></span><span class="updating" style="width:${pct(w.updating)}%"></span></div>`;
};

/** Staged rollouts: each wave's progress, the gates' verdicts, and pause / resume / abort for admins. */
export async function renderRollouts(view) {
  const { rollouts } = await api('/api/v1/rollouts');
  view.dataset.page = 'rollouts';
  const cards = rollouts
    .slice()
    .sort((a, b) => b.createdAt - a.createdAt)
    .map((r) => {
      const total = r.summary.reduce((s, w) => s + w.total, 0);
      const done = r.summary.reduce((s, w) => s + w.committed, 0);
      const actions = can('admin')
        ? [
            r.status === 'running' ? 'pause' : '',
            r.status === 'paused' || r.status === 'halted' ? 'resume' : '',
            ['running', 'paused', 'halted'].includes(r.status) ? 'abort' : '',
          ]
            .filter(Boolean)
            .map(
              (a) =>
                `<button type="button" data-action="${a}" class="${a === 'abort' ? 'danger' : ''}">${a}</button>`,
            )
            .join(' ')
        : '';
      const waves = r.summary
        .map(
          (w) =>
            `<tr class="wave ${esc(w.state)}"><td>${esc(w.name)}</td><td>${bar(w)}</td><td>${w.committed}/${w.total}${w.failed ? `, ${w.failed} failed` : ''}${w.updating ? `, ${w.updating} updating` : ''}</td><td>${esc(w.state)}</td></tr>`,
        )
        .join('');
      return `<section class="card rollout" data-rollout="${esc(r.id)}"><h2>${esc(r.spec.version)} <span class="state ${esc(r.status)}">${esc(r.status)}</span></h2>
        <p class="muted">${done}/${total} gateways updated · target ${esc(r.spec.target.kind)}${r.spec.target.group ? ` ${esc(r.spec.target.group)}` : ''} · success gate ${r.spec.successThresholdPercent} %${r.reason ? ` · ${esc(r.reason)}` : ''}</p>
        <table><thead><tr><th>wave</th><th>progress</th><th></th><th>state</th></tr></thead><tbody>${waves}</tbody></table>
        <p>${actions}</p></section>`;
    })
    .join('');
  view.innerHTML = rollouts.length
    ? cards
    : '<section class="card"><h2>Rollouts</h2><p class="muted">No rollouts yet. Upload a signed release and start one with <code>citygate rollout start</code>.</p></section>';
  view.querySelectorAll('section[data-rollout] button[data-action]').forEach((b) =>
    b.addEventListener('click', async () => {
      const id = b.closest('section').dataset.rollout;
      const action = b.dataset.action;
      if (!(await confirmDialog(`${action} rollout`, `${action} rollout ${id}?`, action))) return;
      try {
        await api(`/api/v1/rollouts/${id}/${action}`, {
          method: 'POST',
          body: JSON.stringify(action === 'resume' ? {} : { reason: `${action} on the dashboard` }),
        });
        await renderRollouts(view);
      } catch (err) {
        b.insertAdjacentHTML('afterend', `<span class="error" role="alert">${esc(err.message)}</span>`);
      }
    }),
  );
}
