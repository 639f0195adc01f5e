/**
 * Installs the daemon's one SIGTERM/SIGINT/SIGHUP listener for the life of the process (src/daemons/signals.ts).
 * A daemon's entry point imports this first, and loads the program itself only afterwards, with import(): a
 * static import would load the whole module graph before any module runs, leaving the default actions in place
 * while a loaded machine reads and compiles it.
 */
import { daemonSignals } from '../daemons/signals.js';

daemonSignals();
