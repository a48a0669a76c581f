import { esc } from './api.js';

/** A modal confirmation (the page's own <dialog>, so it works the same on a phone). Resolves true on confirm. */
export function confirmDialog(title, body, confirmLabel = 'Confirm') {
  let dlg = document.getElementById('confirm');
  if (!dlg) {
    dlg = document.createElement('dialog');
    dlg.id = 'confirm';
    document.body.append(dlg);
  }
  dlg.innerHTML = `<form method="dialog"><h2>${esc(title)}</h2><p>${esc(body)}</p>
    <menu><button value="cancel" type="submit">Cancel</button>
    <button value="ok" type="submit" class="primary" id="confirm-ok">${esc(confirmLabel)}</button></menu></form>`;
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
    dlg.returnValue = '';
    dlg.showModal();
  });
}
