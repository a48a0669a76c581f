'use strict';
/* eslint-disable @typescript-eslint/no-this-alias -- Node-RED's constructor convention: const node = this */
const { list, errorText } = require('./lib/common.js');

/** `citygate-device-in`: point updates (and optionally online/offline) of matching devices. */
module.exports = function (RED) {
  function DeviceInNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const gateway = RED.nodes.getNode(config.gateway);
    const devices = new Set(list(config.device));
    const points = new Set(list(config.point));
    const profile = (config.profile || '').trim();
    const onlyChanges = config.changes === 'changed';
    const withState = !!config.state;
    const last = new Map();
    if (!gateway) {
      node.status({ fill: 'red', shape: 'ring', text: 'no gateway' });
      return;
    }
    let profileOf = new Map();
    const deviceMatches = (d) => {
      if (devices.size && !devices.has(d)) return false;
      return !profile || profileOf.get(d) === profile;
    };
    try {
      profileOf = new Map(
        gateway
          .services()
          .devices()
          .map((d) => [d.id, d.profile]),
      );
      gateway.register(node, {
        readings(rs) {
          for (const r of rs) {
            if (!deviceMatches(r.device) || (points.size && !points.has(r.point))) continue;
            const key = `${r.device}/${r.point}`;
            if (onlyChanges && last.get(key) === r.value) continue;
            last.set(key, r.value);
            const msg = { topic: key, payload: r.value, device: r.device, point: r.point, ts: r.ts };
            if (r.unit) msg.unit = r.unit;
            node.send(msg);
          }
        },
        deviceState(device, online, reason) {
          if (!withState || !deviceMatches(device)) return;
          node.send({ topic: `${device}/online`, payload: online, device, point: 'online', reason });
          node.status({
            fill: online ? 'green' : 'red',
            shape: 'dot',
            text: `${device} ${online ? 'online' : 'offline'}`,
          });
        },
      });
      node.status({});
    } catch (err) {
      node.status({ fill: 'red', shape: 'ring', text: 'no gateway' });
      node.error(errorText(err));
      return;
    }
    node.on('close', function (done) {
      gateway.deregister(node, done);
    });
  }
  RED.nodes.registerType('citygate-device-in', DeviceInNode);
};
