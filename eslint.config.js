// eslint reads its settings from this file only; prettier's are in package.json.
import js from '@eslint/js';
import pluginVue from 'eslint-plugin-vue';
import globals from 'globals';

export default [
  js.configs.recommended,
  // Vue's error-preventing rules only: prettier owns the layout.
  ...pluginVue.configs['flat/essential'],
  {
    rules: {
      eqeqeq: ['error', 'smart'], // `== null` stays the one way to mean null or undefined
      'no-var': 'error',
      'prefer-const': 'error',
      'object-shorthand': 'error',
    },
  },
  { files: ['static/js/**'], languageOptions: { globals: globals.browser } },
  { files: ['tests/js/**'], languageOptions: { globals: globals.node } },
];
