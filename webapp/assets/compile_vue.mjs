// Compiles a Vue single-file component (on stdin) into an ES module (on stdout).
// Templates are compiled here, at build time, so the browser needs neither Vue's
// template compiler nor a Content-Security-Policy that allows eval.
// Resolves Vue from the working directory: run it where node_modules is.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const { parse, compileScript, compileTemplate } = createRequire(`${process.cwd()}/`)('vue/compiler-sfc');
const filename = process.argv[2] || 'component.vue';
const source = readFileSync(0, 'utf8');

function fail(errors) {
  process.stderr.write(`${filename}: ${errors.map((e) => e.message || e).join('\n')}\n`);
  process.exit(1);
}

const { descriptor, errors } = parse(source, { filename });
if (errors.length) fail(errors);
if (descriptor.styles.length) fail(['<style> blocks are not supported: style components in the app stylesheet']);
if (!descriptor.template) fail(['a <template> block is required']);
const id = createHash('sha256').update(filename).digest('hex').slice(0, 8);
const script = descriptor.script || descriptor.scriptSetup
  ? compileScript(descriptor, { id, genDefaultAs: '_sfc_main' }).content
  : 'const _sfc_main = {};';
const template = compileTemplate({ source: descriptor.template.content, filename, id });
if (template.errors.length) fail(template.errors);
process.stdout.write(`${script}\n${template.code}\n_sfc_main.render = render;\nexport default _sfc_main;\n`);
