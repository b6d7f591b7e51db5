// Typesets TeX formulas with MathJax 3 (mathjax-full) and reports the ones that fail.
// stdin: a JSON list of {"tex": "...", "display": true|false}; stdout: a JSON list with, for
// each formula, null (it typesets) or the error MathJax shows in red. Run by tests/test_mathjax.py
// with NODE_PATH pointing at the folder where `npm install mathjax-full` put node_modules.
const {mathjax} = require('mathjax-full/js/mathjax.js');
const {TeX} = require('mathjax-full/js/input/tex.js');
const {SVG} = require('mathjax-full/js/output/svg.js');
const {liteAdaptor} = require('mathjax-full/js/adaptors/liteAdaptor.js');
const {RegisterHTMLHandler} = require('mathjax-full/js/handlers/html.js');
const {AllPackages} = require('mathjax-full/js/input/tex/AllPackages.js');

// As Jupyter's MathJax 3 (the full TeX package set), except that an undefined macro is an error
// here instead of red text ('noundefined'), and nothing is loaded on demand.
const packages = AllPackages.filter(p => !['noundefined', 'autoload', 'require'].includes(p));
let current = null;
const tex = new TeX({
  packages,
  formatError: (jax, err) => { current = err.message; return jax.formatError(err); },
});
const adaptor = liteAdaptor();
RegisterHTMLHandler(adaptor);
const doc = mathjax.document('', {InputJax: tex, OutputJax: new SVG({fontCache: 'none'})});

let input = '';
process.stdin.on('data', chunk => { input += chunk; });
process.stdin.on('end', () => {
  const results = JSON.parse(input).map(({tex: source, display}) => {
    current = null;
    try {
      const node = doc.convert(source, {display});
      const html = adaptor.outerHTML(node);
      if (current === null && /data-mjx-error|merror/.test(html)) current = 'merror in output';
    } catch (err) {
      current = String(err && err.message || err);
    }
    return current;
  });
  process.stdout.write(JSON.stringify(results));
});
