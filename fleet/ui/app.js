import { api } from './api.js';
import { renderGateway } from './gateway.js';
import { renderMap } from './map.js';

const view = document.getElementById('view');
const state = { faults: new Map(), chart: undefined };
let busy = false;

async function render() {
  if (busy) return;
  busy = true;
  try {
    const m = /^#\/gw\/([a-z0-9-]+)$/.exec(location.hash);
    if (m) await renderGateway(view, m[1], state);
    else await renderMap(view, state);
    const { gateways } = await api('/api/v1/gateways');
    document.getElementById('summary').textContent =
      `${gateways.filter((g) => g.online).length}/${gateways.length} gateways online`;
  } catch (err) {
    view.innerHTML = `<p class="card">Cannot load: ${String(err.message).replace(/</g, '&lt;')}</p>`;
  } finally {
    busy = false;
  }
}

window.addEventListener('hashchange', () => {
  view.dataset.gw = '';
  void render();
});
void render();
setInterval(render, 2000);
