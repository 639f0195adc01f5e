#!/usr/bin/env node
/** stafctl: control tool for stafd (entry point; the full program lands with its own issue). */
import { placeholderMain } from './placeholder.js';

process.exitCode = placeholderMain('stafctl', 'control tool for stafd', process.argv.slice(2));
