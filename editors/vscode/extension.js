// The netlang extension: VS Code highlights .net files with the TextMate grammar (syntaxes/), and this starts
// the netlang language server, `netlang lsp`, over stdio for them. The command is a setting
// (netlang.server.command, netlang.server.args), so a netlang installed in a virtual environment can be used.
'use strict';
const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

let client;

function serverOptions(config) {
  const command = config.get('server.command', 'netlang');
  const args = config.get('server.args', ['lsp']);
  return { command, args };
}

function activate() {
  const server = serverOptions(vscode.workspace.getConfiguration('netlang'));
  client = new LanguageClient(
    'netlang',
    'netlang language server',
    { run: server, debug: server },
    {
      documentSelector: [
        { scheme: 'file', language: 'netlang' },
        { scheme: 'untitled', language: 'netlang' },
      ],
    },
  );
  return client.start().catch((error) => {
    const line = [server.command, ...server.args].join(' ');
    vscode.window.showErrorMessage(
      `netlang: could not start the language server '${line}' (${error && error.message ? error.message : error}). ` +
        'Install netlang with it (pip install "netlang[lsp]"), or set netlang.server.command to its full path.',
    );
  });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate, serverOptions };
