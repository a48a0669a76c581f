import { api, ApiError, can, esc, session } from './api.js';
import { renderClaims } from './claims.js';
import { renderFlows } from './flows.js';
import { renderGateway } from './gateway.js';
import { renderMap } from './map.js';
import { renderRollouts } from './rollouts.js';

const view = document.getElementById('view');
const state = { faults: new Map(), chart: undefined };
let busy = false;

function renderLogin(message) {
  view.dataset.gw = '';
  view.dataset.page = 'login';
  view.innerHTML = `<section class="card login"><h2>Sign in</h2>
    <p class="muted">Paste your CityGate API token (an admin creates tokens with a role: viewer, technician, operator, admin).</p>
    <form id="login"><input id="token" type="password" autocomplete="current-password" placeholder="API token" aria-label="API token" required>
    <button type="submit">Sign in</button></form>${message ? `<p class="error" role="alert">${esc(message)}</p>` : ''}</section>`;
  view.querySelector('#login').addEventListener('submit', (e) => {
    e.preventDefault();
    session.token = view.querySelector('#token').value.trim();
    view.innerHTML = '<p class="muted">signing in…</p>';
    void render();
  });
}

async function whoAmI() {
  const me = await api('/api/v1/me');
  session.me = me.auth ? me : null; // null: a fleet without authentication (the demo on loopback)
  const who = document.getElementById('who');
  who.innerHTML = session.me
    ? `${esc(session.me.name)} (${esc(session.me.role)}) <button id="logout" type="button">Sign out</button>`
    : '';
  // What this role may open: everyone the map, rollouts and flows; claim tokens for who may provision.
  document.querySelector('header nav').innerHTML =
    '<a href="#/">Map</a><a href="#/rollouts">Rollouts</a><a href="#/flows">Flows</a>' +
    (can('provision') ? '<a href="#/claims">Claim tokens</a>' : '');
  who.querySelector('#logout')?.addEventListener('click', () => {
    session.token = '';
    session.me = null;
    who.innerHTML = '';
    renderLogin();
  });
}

async function render() {
  if (busy || view.querySelector('#login')) return;
  busy = true;
  try {
    if (session.me === null && !document.getElementById('who').textContent) {
      // Without a token, ask the public health route whether this fleet wants one (no 401 in the console).
      if (!session.token && (await api('/api/v1/health')).auth) return renderLogin();
      await whoAmI();
    }
    const m = /^#\/gw\/([a-z0-9-]+)$/.exec(location.hash);
    if (m) await renderGateway(view, m[1], state);
    else if (location.hash === '#/rollouts') await renderRollouts(view);
    else if (location.hash === '#/flows') await renderFlows(view);
    else if (location.hash === '#/claims' && can('provision')) await renderClaims(view);
    else await renderMap(view, state);
    const { gateways } = await api('/api/v1/gateways');
    document.getElementById('summary').textContent =
      `${gateways.filter((g) => g.online).length}/${gateways.length} gateways online`;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) renderLogin(session.token ? err.message : '');
    else
      view.insertAdjacentHTML(
        'afterbegin',
        `<p class="card error" role="alert">Cannot load: ${esc(err.message)}</p>`,
      );
  } finally {
    busy = false;
  }
}

window.addEventListener('hashchange', () => {
  view.dataset.gw = '';
  view.dataset.page = '';
  void render();
});
void render();
setInterval(render, 2000);
