import { join } from 'node:path';
import { afterAll } from 'vitest';
import { SqliteFleetStore } from '../../../fleet/src/store.js';
import { tempDir } from '../../helpers.js';
import { fleetStoreSuite } from './suite.js';

const dir = tempDir();
afterAll(() => dir.cleanup());

fleetStoreSuite('SQLite', () => SqliteFleetStore.open(join(dir.path, 'fleet.db')));
