'use strict';
/* eslint-disable @typescript-eslint/no-this-alias -- Node-RED's constructor convention: const node = this */

/** `citygate-telemetry`: msg.payload to the fleet on a named stream, via the store-and-forward outbox. */
const STREAM = /^[a-z0-9][a-z0-9._-]{0,63}$/;

module.exports = function (RED) {
  function TelemetryNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const gateway = RED.nodes.getNode(config.gateway);
    if (!gateway) node.status({ fill: 'red', shape: 'ring', text: 'no gateway' });

    node.on('input', function (msg, send, done) {
      (async () => {
        if (!gateway) throw new Error('no gateway configured');
        const stream = msg.stream || config.stream;
        if (!STREAM.test(String(stream || '')))
          throw new Error(`bad telemetry stream name: ${JSON.stringify(stream)}`);
        if (msg.payload === undefined) throw new Error('msg.payload is empty');
        await gateway.services().publishTelemetry(stream, msg.payload);
        node.status({ fill: 'green', shape: 'dot', text: `sent ${stream}` });
        send(msg);
      })().then(
        () => done(),
        (err) => done(err),
      );
    });
  }
  RED.nodes.registerType('citygate-telemetry', TelemetryNode);
};
