import { api, can, esc } from './api.js';

/** Active alarms across the fleet, most severe first, with acknowledge for those allowed to operate. */
export async function renderAlarms(el) {
  const { alarms } = await api('/api/v1/alarms?active=true');
  const rows = alarms
    .map(
      (
        a,
      ) => `<tr data-alarm="${esc(a.gateway)}/${esc(a.key)}"><td><span class="sev ${esc(a.severity)}">${esc(a.severity)}</span></td>
        <td><a href="#/gw/${esc(a.gateway)}">${esc(a.gateway)}</a></td><td>${esc(a.message)}${a.device ? ` (${esc(a.device)})` : ''}</td>
        <td>${a.ackBy ? `ack by ${esc(a.ackBy)}` : can('operate') ? `<button type="button" class="ack" data-gw="${esc(a.gateway)}" data-key="${esc(a.key)}">Acknowledge</button>` : 'unacknowledged'}</td></tr>`,
    )
    .join('');
  el.innerHTML = `<h2>Active alarms (${alarms.length})</h2>${
    alarms.length
      ? `<table id="alarms"><thead><tr><th>severity</th><th>gateway</th><th>alarm</th><th></th></tr></thead><tbody>${rows}</tbody></table>`
      : '<p class="muted">none</p>'
  }`;
  el.querySelectorAll('button.ack').forEach((b) =>
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        await api(`/api/v1/alarms/${b.dataset.gw}/${encodeURIComponent(b.dataset.key)}/ack`, {
          method: 'POST',
          body: JSON.stringify({ note: 'acknowledged on the dashboard' }),
        });
        await renderAlarms(el);
      } catch (err) {
        b.disabled = false;
        el.insertAdjacentHTML('beforeend', `<p class="error" role="alert">${esc(err.message)}</p>`);
      }
    }),
  );
}
