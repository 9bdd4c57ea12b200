#!/usr/bin/env node
// The installed `portico-cni` executable's entry: the CNI plugin and nothing else.
import { runCniPlugin } from './cni-plugin.js';

process.exitCode = await runCniPlugin();
