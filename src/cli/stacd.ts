#!/usr/bin/env node
/** stacd: STorage Appliance Connector (entry point; the full program lands with its own issue). */
import { placeholderMain } from './placeholder.js';

process.exitCode = placeholderMain('stacd', 'STorage Appliance Connector', process.argv.slice(2));
