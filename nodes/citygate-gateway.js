'use strict';
/* eslint-disable @typescript-eslint/no-this-alias -- Node-RED's constructor convention: const node = this */
const { servicesOf, errorText } = require('./lib/common.js');

/**
 * `citygate-gateway` config node: the one connection to the gateway's device layer. Nodes that
 * listen register here; it subscribes to the gateway while it has users (as 10-mqtt.js's
 * mqtt-broker does with its clients) and deregisters them on close.
 */
module.exports = function (RED) {
  function GatewayNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    /** user node id → { readings?(rs), deviceState?(device, online, reason) } */
    const users = new Map();
    let unsubscribe = [];

    node.services = () => servicesOf(RED);

    function subscribe() {
      const s = node.services();
      unsubscribe = [
        s.onReadings((rs) => {
          for (const u of users.values()) if (u.readings) u.readings(rs);
        }),
        s.onDeviceState((device, online, reason) => {
          for (const u of users.values()) if (u.deviceState) u.deviceState(device, online, reason);
        }),
      ];
    }
    function unsubscribeAll() {
      for (const off of unsubscribe) off();
      unsubscribe = [];
    }

    node.register = function (user, handlers) {
      users.set(user.id, handlers || {});
      if (users.size === 1 && !unsubscribe.length) {
        try {
          subscribe();
        } catch (err) {
          users.delete(user.id);
          throw err;
        }
      }
    };
    node.deregister = function (user, done) {
      users.delete(user.id);
      if (users.size === 0) unsubscribeAll();
      if (done) done();
    };
    node.userCount = () => users.size;

    node.on('close', function (done) {
      unsubscribeAll();
      users.clear();
      done();
    });
  }
  RED.nodes.registerType('citygate-gateway', GatewayNode);

  // The editor's device and point pickers.
  if (RED.httpAdmin && RED.auth) {
    RED.httpAdmin.get('/citygate/devices', RED.auth.needsPermission('flows.read'), function (_req, res) {
      try {
        const s = servicesOf(RED);
        res.json({ gateway: s.gatewayId, devices: s.devices() });
      } catch (err) {
        res.status(503).json({ error: errorText(err) });
      }
    });
  }
};
