#!/usr/bin/env node
// The compiled command (`make setup` or `npm run build` writes dist/ from ts/).
await import('../dist/cli.js');
