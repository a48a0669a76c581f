/**
 * The commissioning checklist page on the gateway's local port. It carries no data itself: it reads
 * the token from its URL fragment (never sent to a server or logged) and polls the checklist API.
 */
export const COMMISSION_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>CityGate commissioning</title><link rel="icon" href="data:,">
<style>
body{font:16px/1.4 system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2430}
header{background:#14213d;color:#fff;padding:.7rem 1rem;font-weight:700}
main{padding:1rem;max-width:720px;margin:auto}
li{list-style:none;background:#fff;margin:.4rem 0;padding:.6rem .8rem;border-radius:8px;border-left:6px solid #8a8f98}
li.pass{border-color:#2e9d57}li.fail{border-color:#d23c3c}li.warn{border-color:#e0a100}
.t{font-weight:600}.d{color:#555;font-size:.9rem}ul{padding:0}
</style></head>
<body><header>CityGate commissioning · <span id="gw">…</span></header>
<main><p id="summary">Loading…</p><ul id="items"></ul></main>
<script>
const token = new URLSearchParams(location.hash.slice(1)).get('token');
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'})[c]);
async function refresh() {
  try {
    const res = await fetch('/local/v1/commission/checklist', { headers: { authorization: 'Bearer ' + token } });
    if (!res.ok) throw new Error(res.status === 401 ? 'open this page with the link printed by citygate commission --page' : 'HTTP ' + res.status);
    const c = await res.json();
    document.getElementById('gw').textContent = c.gateway;
    const fails = c.items.filter((i) => i.status === 'fail').length;
    document.getElementById('summary').textContent = fails ? fails + ' check(s) failing' : 'All checks pass or are pending';
    document.getElementById('items').innerHTML = c.items.map((i) =>
      '<li class="' + i.status + '"><div class="t">' + esc(i.status.toUpperCase()) + ' · ' + esc(i.title) + '</div><div class="d">' + esc(i.detail) + '</div></li>').join('');
  } catch (e) { document.getElementById('summary').textContent = 'Cannot load the checklist: ' + e.message; }
}
refresh(); setInterval(refresh, 2000);
</script></body></html>
`;
