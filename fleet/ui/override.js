import { esc } from './api.js';
import { lightsOf, lightsOverride, resultRow, sendOverrides } from './commands.js';
import { confirmDialog } from './dialog.js';

/**
 * "All lights in this zone 100 % for 2 h": a form over one or more scopes (the district, a zone, one
 * gateway), a confirmation naming exactly what will change, then each gateway's result.
 * `scopes`: [{ label, gateways: [id…] }]. Built once per page; the page's refreshes leave it alone.
 */
export function renderOverrideForm(el, scopes) {
  const choose =
    scopes.length > 1
      ? `<label>Where <select name="scope">${scopes.map((s, i) => `<option value="${i}">${esc(s.label)} (${s.gateways.length} gateways)</option>`).join('')}</select></label>`
      : '';
  el.innerHTML = `<h2>Light override</h2>
    <form class="override">${choose}
      <label>Brightness % <input name="pct" type="number" min="0" max="100" step="1" value="100" required></label>
      <label>For hours <input name="hours" type="number" min="0.1" max="168" step="0.1" value="2" required></label>
      <label class="wide">Reason <input name="why" type="text" maxlength="500" placeholder="e.g. night market, accident, festival" required></label>
      <button type="submit" class="primary">Override lights…</button>
    </form>
    <p class="muted">Local interlocks still apply; the override ends by itself at the time shown, even without uplink.</p>
    <table class="results" hidden><thead><tr><th>gateway</th><th>result</th></tr></thead><tbody></tbody></table>`;
  const form = el.querySelector('form');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const scope = scopes[Number(f.get('scope') ?? 0)];
    const pct = Number(f.get('pct'));
    const hours = Number(f.get('hours'));
    const why = String(f.get('why')).trim();
    const button = form.querySelector('button');
    button.disabled = true;
    try {
      const targets = (
        await Promise.all(
          scope.gateways.map(async (gateway) => ({ gateway, lights: await lightsOf(gateway) })),
        )
      ).filter((t) => t.lights.length > 0);
      const n = targets.reduce((s, t) => s + t.lights.length, 0);
      const what = pct > 0 ? `to ${pct} %` : 'off';
      const ok = await confirmDialog(
        'Override street lights',
        `Set ${n} street lights at ${targets.length} gateway(s) — ${scope.label} — ${what} for ${hours} h? Reason: ${why}`,
        'Send override',
      );
      if (!ok) return;
      const table = el.querySelector('table.results');
      const body = table.querySelector('tbody');
      table.hidden = false;
      body.innerHTML = targets
        .map(
          (t) =>
            `<tr data-gw="${esc(t.gateway)}"><td>${esc(t.gateway)}</td><td class="muted">sending…</td></tr>`,
        )
        .join('');
      await sendOverrides(
        targets.map((t) => ({ gateway: t.gateway, set: lightsOverride(t.lights, pct) })),
        { why, durationMs: Math.round(hours * 3_600_000) },
        (gw, r) => {
          const row = body.querySelector(`tr[data-gw="${gw}"]`);
          if (row) row.innerHTML = resultRow(gw, r);
        },
      );
    } catch (err) {
      el.insertAdjacentHTML('beforeend', `<p class="error" role="alert">${esc(err.message)}</p>`);
    } finally {
      button.disabled = false;
    }
  });
}
