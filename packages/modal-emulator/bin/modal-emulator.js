#!/usr/bin/env node
// Committed shim so `pnpm install` can link the command before the first build.
import "../dist/bin.js";
