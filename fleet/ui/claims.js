import { api, CITY_TZ, esc } from './api.js';
import { confirmDialog } from './dialog.js';

const when = (ts) => new Date(ts).toLocaleString('en-GB', { timeZone: CITY_TZ });

/**
 * Claim tokens: a technician provisions a new gateway with one (`citygate provision --token …`).
 * The token itself is shown once, when it is made; the list shows only ids and expiry.
 */
export async function renderClaims(view) {
  if (view.dataset.page !== 'claims') {
    view.dataset.page = 'claims';
    view.innerHTML = `<div class="grid">
      <section class="card"><h2>Unused claim tokens</h2><table id="claims"><thead><tr><th>id</th><th>group</th><th>expires (Hanoi)</th><th></th></tr></thead><tbody></tbody></table></section>
      <section class="card"><h2>New claim token</h2>
        <form id="new-claim"><label>Group <input name="group" pattern="[a-z0-9][a-z0-9\\-]{0,62}" placeholder="optional, e.g. lake-pilot"></label>
        <label>Valid for hours <input name="hours" type="number" min="1" max="720" value="24" required></label>
        <button type="submit" class="primary">Create</button></form>
        <div id="claim-made" hidden><p>Give this token to the technician; it is shown only now and works once:</p>
        <output id="claim-token" class="secret"></output>
        <p class="muted">On the gateway: <code>citygate provision --fleet ${esc(location.origin)} --token &lt;token&gt; --id &lt;gateway-id&gt;</code></p></div>
      </section></div>`;
    const form = view.querySelector('#new-claim');
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const f = new FormData(form);
      const group = String(f.get('group')).trim();
      try {
        const c = await api('/api/v1/claim-tokens', {
          method: 'POST',
          body: JSON.stringify({
            ttlSeconds: Math.round(Number(f.get('hours')) * 3600),
            ...(group ? { group } : {}),
          }),
        });
        view.querySelector('#claim-made').hidden = false;
        view.querySelector('#claim-token').textContent = c.token;
        await listClaims(view);
      } catch (err) {
        form.insertAdjacentHTML('afterend', `<p class="error" role="alert">${esc(err.message)}</p>`);
      }
    });
  }
  await listClaims(view);
}

async function listClaims(view) {
  const { claimTokens } = await api('/api/v1/claim-tokens');
  const unused = claimTokens.filter((c) => !c.usedAt);
  const body = view.querySelector('#claims tbody');
  body.innerHTML = unused.length
    ? unused
        .map(
          (c) =>
            `<tr data-claim="${esc(c.id)}"><td><code>${esc(c.id)}</code></td><td>${esc(c.group ?? '')}</td><td>${esc(when(c.expiresAt))}</td><td><button type="button" class="danger">Delete</button></td></tr>`,
        )
        .join('')
    : '<tr><td colspan="4" class="muted">none</td></tr>';
  body.querySelectorAll('tr[data-claim] button').forEach((b) =>
    b.addEventListener('click', async () => {
      const id = b.closest('tr').dataset.claim;
      if (
        !(await confirmDialog(
          'Delete claim token',
          `Delete claim token ${id}? It can no longer provision a gateway.`,
          'Delete',
        ))
      )
        return;
      try {
        await api(`/api/v1/claim-tokens/${id}`, { method: 'DELETE' });
      } catch (err) {
        body.insertAdjacentHTML('afterend', `<p class="error" role="alert">${esc(err.message)}</p>`);
      }
      await listClaims(view);
    }),
  );
}
