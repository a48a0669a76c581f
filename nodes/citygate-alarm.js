'use strict';
/* eslint-disable @typescript-eslint/no-this-alias -- Node-RED's constructor convention: const node = this */

/**
 * `citygate-alarm`: raises (truthy msg.payload, "raise") or clears (falsy, "clear") an alarm at the
 * fleet. With "one alarm per device" the id gets `/<msg.device>`. Only changes are sent.
 */
const SEVERITIES = ['critical', 'major', 'minor', 'warning'];

function wantsRaise(p) {
  if (typeof p === 'string') return !['', 'clear', 'false', 'off', '0'].includes(p.trim().toLowerCase());
  return !!p;
}

module.exports = function (RED) {
  function AlarmNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const gateway = RED.nodes.getNode(config.gateway);
    const severity = SEVERITIES.includes(config.severity) ? config.severity : 'major';
    const active = new Map();
    if (!gateway) node.status({ fill: 'red', shape: 'ring', text: 'no gateway' });

    node.on('input', function (msg, send, done) {
      (async () => {
        if (!gateway) throw new Error('no gateway configured');
        const s = gateway.services();
        const device = msg.device ? String(msg.device) : undefined;
        const id = config.perDevice && device ? `${config.alarm}/${device}` : config.alarm;
        const raise = wantsRaise(msg.payload);
        if (active.get(id) !== raise) {
          if (raise) {
            const message = msg.message || config.message || id;
            await s.raiseAlarm({
              id,
              severity: msg.severity || severity,
              message: String(message),
              device,
              value: msg.value,
            });
          } else {
            await s.clearAlarm(id, device);
          }
          active.set(id, raise);
        }
        const n = [...active.values()].filter(Boolean).length;
        node.status(
          n
            ? { fill: 'red', shape: 'dot', text: `${n} active` }
            : { fill: 'green', shape: 'ring', text: 'clear' },
        );
        msg.alarm = { id, active: raise, severity };
        send(msg);
      })().then(
        () => done(),
        (err) => done(err),
      );
    });
  }
  RED.nodes.registerType('citygate-alarm', AlarmNode);
};
