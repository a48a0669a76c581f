'use strict';
/* eslint-disable @typescript-eslint/no-this-alias -- Node-RED's constructor convention: const node = this */
const { list, pointValue, errorText } = require('./lib/common.js');

/**
 * `citygate-device-out`: writes points through the gateway's line scheduler and interlocks.
 * msg.payload is one value (for msg.point or the configured point) or a command object
 * { point: value, … } (e.g. { on: true, dim: 40 }); targets are msg.device, else the configured
 * devices, else every device of the configured profile. The result is on msg.result.
 */
module.exports = function (RED) {
  function DeviceOutNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const gateway = RED.nodes.getNode(config.gateway);
    const devices = list(config.device);
    const profile = (config.profile || '').trim();
    if (!gateway) node.status({ fill: 'red', shape: 'ring', text: 'no gateway' });

    node.on('input', function (msg, send, done) {
      (async () => {
        if (!gateway) throw new Error('no gateway configured');
        const s = gateway.services();
        const targets = msg.device
          ? list(msg.device)
          : devices.length
            ? devices
            : profile
              ? s
                  .devices()
                  .filter((d) => d.profile === profile)
                  .map((d) => d.id)
              : [];
        if (!targets.length) throw new Error('no target device (set msg.device, a device or a profile)');
        const p = msg.payload;
        const writes =
          p !== null && typeof p === 'object' && !Array.isArray(p)
            ? Object.entries(p).map(([point, v]) => [point, pointValue(v)])
            : [[msg.point || config.point, pointValue(p)]];
        if (writes.some(([point]) => !point)) throw new Error('no point (set msg.point or the node point)');
        const results = await Promise.all(
          targets.map(async (device) => {
            const out = [];
            for (const [point, value] of writes) {
              try {
                await s.write(device, point, value);
                out.push({ device, point, value, ok: true });
              } catch (err) {
                out.push({ device, point, value, ok: false, error: errorText(err), code: err && err.code });
              }
            }
            return out;
          }),
        );
        msg.result = results.flat();
        const failed = msg.result.filter((r) => !r.ok);
        node.status(
          failed.length
            ? { fill: 'red', shape: 'dot', text: `${failed.length} write(s) failed` }
            : { fill: 'green', shape: 'dot', text: `${msg.result.length} written` },
        );
        if (failed.length) {
          const err = new Error(failed.map((f) => `${f.device}.${f.point}: ${f.error}`).join('; '));
          err.code = failed[0].code || 'write-failed';
          throw err;
        }
        send(msg);
      })().then(
        () => done(),
        (err) => done(err),
      );
    });
  }
  RED.nodes.registerType('citygate-device-out', DeviceOutNode);
};
