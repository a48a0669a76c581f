'use strict';
/**
 * Shared by the CityGate nodes. The gateway's EdgeServices come from Node-RED's settings
 * (`settings.citygate.services`, set by edge/src/node-red/start.ts) on every call: no module-level
 * cache, so two runtimes or test helpers in one process never share a gateway.
 */

/** @returns {import('../../edge/src/node-red/services.js').EdgeServices} */
function servicesOf(RED) {
  const s = RED.settings && RED.settings.citygate && RED.settings.citygate.services;
  if (!s) {
    const err = new Error('no CityGate gateway in this Node-RED (settings.citygate.services is missing)');
    err.code = 'no-gateway';
    throw err;
  }
  return s;
}

/** "a, b" → ['a', 'b']; '' → [] */
function list(text) {
  return String(text || '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Values a device point accepts: booleans and finite numbers ("on"/"off" and numeric strings too). */
function pointValue(v) {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (t === 'true' || t === 'on') return true;
    if (t === 'false' || t === 'off') return false;
    if (t !== '' && Number.isFinite(Number(t))) return Number(t);
  }
  const err = new Error(`not a point value: ${JSON.stringify(v)} (expected a boolean or a number)`);
  err.code = 'bad-value';
  throw err;
}

function errorText(err) {
  return err && err.code ? `${err.code}: ${err.message}` : String((err && err.message) || err);
}

module.exports = { servicesOf, list, pointValue, errorText };
