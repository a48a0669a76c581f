'use strict';
/* eslint-disable @typescript-eslint/no-this-alias -- Node-RED's constructor convention: const node = this */
const { errorText } = require('./lib/common.js');

/**
 * `citygate-schedule`: a daily list of steps, each at a sun event ± minutes or a local time, each
 * sending its payload. Times come from the gateway (its location and clock). On deploy it can send
 * the step in force; an input message sends the step in force at msg.time (default: now).
 */
const SUN = ['sunrise', 'sunset', 'dawn', 'dusk'];
const TIME = /^([01]\d|2[0-3]):[0-5]\d$/;

/** Editor text → [{ at: TimeSpec, payload, topic? }]; throws on a bad step. */
function parseSteps(text) {
  const raw = typeof text === 'string' ? JSON.parse(text || '[]') : text;
  if (!Array.isArray(raw) || raw.length === 0) throw new Error('steps must be a non-empty JSON array');
  return raw.map((s, i) => {
    if (!s || typeof s !== 'object') throw new Error(`step ${i + 1} is not an object`);
    let at;
    if (s.sun !== undefined) {
      if (!SUN.includes(s.sun)) throw new Error(`step ${i + 1}: sun must be one of ${SUN.join(', ')}`);
      const off = Number(s.offset || 0);
      if (!Number.isFinite(off) || Math.abs(off) > 720)
        throw new Error(`step ${i + 1}: offset must be minutes within ±720`);
      at = { sun: s.sun, offsetMin: off };
    } else if (typeof s.time === 'string' && TIME.test(s.time)) {
      at = { time: s.time };
    } else throw new Error(`step ${i + 1}: needs "sun" (+ "offset") or "time" ("HH:MM")`);
    if (s.payload === undefined) throw new Error(`step ${i + 1} has no payload`);
    return { at, payload: s.payload, topic: s.topic };
  });
}

module.exports = function (RED) {
  function ScheduleNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const gateway = RED.nodes.getNode(config.gateway);
    let steps;
    let timer;
    try {
      if (!gateway) throw new Error('no gateway configured');
      steps = parseSteps(config.steps);
    } catch (err) {
      node.status({ fill: 'red', shape: 'ring', text: 'not configured' });
      node.error(errorText(err));
      return;
    }
    const label = (at) =>
      'time' in at
        ? at.time
        : `${at.sun}${at.offsetMin ? (at.offsetMin > 0 ? '+' : '') + at.offsetMin + 'm' : ''}`;
    const message = (step, t, extra) =>
      Object.assign(
        {
          topic: step.topic || config.topic || label(step.at),
          payload: RED.util.cloneMessage({ p: step.payload }).p,
          time: t,
          step: label(step.at),
        },
        extra,
      );

    /** The step in force at `t`: the one whose last occurrence is the latest. */
    function inForce(s, t) {
      let best;
      for (const step of steps) {
        const at = s.lastTime(step.at, t);
        if (at !== null && (!best || at > best.at)) best = { step, at };
      }
      return best;
    }
    function arm() {
      const s = gateway.services();
      const now = s.clock.now();
      let next;
      for (const step of steps) {
        const at = s.nextTime(step.at, now);
        if (!next || at < next.at) next = { step, at };
      }
      node.status({
        fill: 'blue',
        shape: 'dot',
        text: `next ${label(next.step.at)} ${new Date(next.at).toISOString().slice(5, 16)}Z`,
      });
      timer = s.clock.setTimeout(() => {
        timer = undefined;
        node.send(message(next.step, next.at));
        try {
          arm();
        } catch (err) {
          node.error(errorText(err));
        }
      }, next.at - now);
    }

    try {
      arm();
      if (config.emitOnStart) {
        const s = gateway.services();
        const cur = inForce(s, s.clock.now());
        if (cur) setImmediate(() => node.send(message(cur.step, cur.at, { initial: true })));
      }
    } catch (err) {
      node.status({ fill: 'red', shape: 'ring', text: 'no schedule' });
      node.error(errorText(err));
    }

    node.on('input', function (msg, send, done) {
      try {
        const s = gateway.services();
        const t =
          msg.time === undefined
            ? s.clock.now()
            : typeof msg.time === 'number'
              ? msg.time
              : Date.parse(msg.time);
        if (!Number.isFinite(t)) throw new Error(`bad msg.time: ${JSON.stringify(msg.time)}`);
        const cur = inForce(s, t);
        if (cur) send(Object.assign(msg, message(cur.step, cur.at)));
        done();
      } catch (err) {
        done(err);
      }
    });
    node.on('close', function () {
      if (timer) timer.cancel();
      timer = undefined;
    });
  }
  RED.nodes.registerType('citygate-schedule', ScheduleNode);
};
module.exports.parseSteps = parseSteps;
