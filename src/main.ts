/**
 * `npm start`: the service, configured by the environment and ./.env (src/composition/serve-process.ts).
 */
import { serveProcess } from './composition/serve-process.ts';

await serveProcess();
