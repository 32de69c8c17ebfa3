// Activates the VS Code extension (editors/vscode/extension.js) against stand-ins for the `vscode` module and
// vscode-languageclient, and prints as JSON what it asked for: the server it starts, the documents it serves,
// and the message it shows when the server cannot start.  node extension_smoke.js EXTENSION.js [ok|fail]
'use strict';
const Module = require('module');

const [extensionPath, outcome = 'ok'] = process.argv.slice(2);
const seen = { clients: [], started: 0, stopped: 0, errors: [] };
const settings = {};

const vscode = {
  workspace: { getConfiguration: (section) => ({ get: (key, fallback) => settings[`${section}.${key}`] ?? fallback }) },
  window: { showErrorMessage: (message) => seen.errors.push(message) },
};
class LanguageClient {
  constructor(id, name, serverOptions, clientOptions) {
    seen.clients.push({ id, name, serverOptions, clientOptions });
  }
  start() {
    seen.started += 1;
    return outcome === 'ok' ? Promise.resolve() : Promise.reject(new Error('spawn netlang ENOENT'));
  }
  stop() {
    seen.stopped += 1;
    return Promise.resolve();
  }
}
const stand_ins = { vscode, 'vscode-languageclient/node': { LanguageClient } };
const load = Module._load;
Module._load = function (request, parent, isMain) {
  return Object.prototype.hasOwnProperty.call(stand_ins, request) ? stand_ins[request] : load(request, parent, isMain);
};

async function main() {
  const extension = require(extensionPath);
  await extension.activate({ subscriptions: [] });
  await extension.deactivate();
  process.stdout.write(JSON.stringify(seen));
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
});
