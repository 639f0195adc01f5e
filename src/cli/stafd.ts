#!/usr/bin/env node
/** stafd: STorage Appliance Finder (entry point; the full program lands with its own issue). */
import { placeholderMain } from './placeholder.js';

process.exitCode = placeholderMain('stafd', 'STorage Appliance Finder', process.argv.slice(2));
