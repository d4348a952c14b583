import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  // Built output, committed framework builds, and the script webpack bundles into pages as plain browser JavaScript.
  { ignores: ['dist/', 'fixtures/', 'bench/out/', 'plugins/webpack/nonce-bootstrap.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: 'readonly', process: 'readonly', URL: 'readonly' } },
    rules: {
      // A leading underscore names what a destructuring or a signature must hold but the code does not use.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // Control characters are matched on purpose: header values, URLs and file names that carry them are refused or escaped.
      'no-control-regex': 'off',
    },
  },
  {
    // Tests read parse5 and bundler objects whose shapes their types do not describe.
    files: ['test/**', 'plugins/**/*.test.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
)
