// Tokenise files with the TextMate engine VS Code itself uses (vscode-textmate on vscode-oniguruma) and print,
// as JSON, every token of every line with its scopes:  node tokenize.js GRAMMAR.json FILE...
'use strict';
const fs = require('fs');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

async function main() {
  const [grammarPath, ...files] = process.argv.slice(2);
  const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async (scopeName) =>
      scopeName === 'source.netlang'
        ? vsctm.parseRawGrammar(fs.readFileSync(grammarPath, 'utf8'), grammarPath)
        : null,
  });
  const grammar = await registry.loadGrammar('source.netlang');
  const result = {};
  for (const file of files) {
    let stack = vsctm.INITIAL;
    const tokens = [];
    fs.readFileSync(file, 'utf8').split(/\r?\n/).forEach((line, index) => {
      const lineTokens = grammar.tokenizeLine(line, stack);
      for (const token of lineTokens.tokens) {
        tokens.push({ line: index + 1, text: line.slice(token.startIndex, token.endIndex), scopes: token.scopes });
      }
      stack = lineTokens.ruleStack;
    });
    result[file] = tokens;
  }
  process.stdout.write(JSON.stringify(result));
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
});
