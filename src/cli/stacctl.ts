#!/usr/bin/env node
/** stacctl: control tool for stacd (entry point; the full program lands with its own issue). */
import { placeholderMain } from './placeholder.js';

process.exitCode = placeholderMain('stacctl', 'control tool for stacd', process.argv.slice(2));
