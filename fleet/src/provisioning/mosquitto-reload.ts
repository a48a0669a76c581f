/**
 * `--mosquitto-pid FILE`: after the fleet rewrote Mosquitto's password and ACL files, tell Mosquitto
 * to re-read them (SIGHUP to the pid in its `pid_file`). Needs the right to signal it (the same user,
 * or root); otherwise a systemd path unit watching the directory does the reload (docs/operations.md).
 * Failures are logged and never stop the fleet.
 */
import { readFileSync } from 'node:fs';
import { errorMessage } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';

export function reloadMosquitto(pidFile: string, log: Logger): () => void {
  return () => {
    let text: string;
    try {
      text = readFileSync(pidFile, 'utf8').trim();
    } catch (err) {
      log.error(`cannot reload Mosquitto: cannot read its pid file ${pidFile}: ${errorMessage(err)}`);
      return;
    }
    const pid = Number(text);
    if (!/^\d+$/.test(text) || pid <= 1) {
      log.error(`cannot reload Mosquitto: ${pidFile} holds '${text.slice(0, 40)}', not a process id`);
      return;
    }
    try {
      process.kill(pid, 'SIGHUP');
      log.info(`Mosquitto (pid ${pid}) told to re-read its password and ACL files`);
    } catch (err) {
      log.error(
        `cannot reload Mosquitto (pid ${pid} from ${pidFile}): ${errorMessage(err)}; run the fleet as Mosquitto's user or reload it from a systemd path unit`,
      );
    }
  };
}
