// Dependency rules for src/ (issue 10, item 8), checked in CI by `npm run lint:deps`.
// A rule here is the written-down intent of the layout in docs/contributing.md; fix the import, not the rule.

// Feature folders: each owns tables, jobs or routes. The shared folders below must not know them.
const FEATURES = '(uploads|requests|products|processing|export|webhooks|health|security|observability|cli|queue)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles-between-features',
      comment:
        'Two features that import each other cannot be understood, tested or moved apart, and Nest resolves ' +
        'their modules only with forwardRef. Checked on folders, so a cycle counts even when no single file ' +
        "imports itself back; a cycle inside one feature (processing/ and processing/fetch/) is not this rule's business.",
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/([^/]+)' },
      to: { circular: true, pathNot: '^src/$1(/|$)' },
    },
    {
      name: 'no-cycles-between-files',
      comment:
        'Files that import each other, even for types only, have no reading order: each needs the other ' +
        'understood first, and a change to one recompiles and retests the circle. Checked per file, inside ' +
        'a feature too.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'shared-folders-know-no-feature',
      comment:
        'common/, config/, database/ and storage/ are imported by every feature and by every role; one import ' +
        'of a feature from them drags that feature (its providers, its controllers) into everything.',
      severity: 'error',
      from: { path: '^src/(common|config|database|storage)/' },
      to: { path: `^src/${FEATURES}/` },
    },
    {
      name: 'webhooks-know-nothing-of-images',
      comment:
        'Webhooks deliver events about requests; how images are fetched or stored is not their concern, ' +
        'and the delivery worker must not load the image pipeline (sharp, the image fetcher) to send a POST.',
      severity: 'error',
      from: { path: '^src/webhooks/' },
      to: { path: '^src/(processing|products)/' },
    },
    {
      name: 'queue-contract-knows-no-handler',
      comment:
        'src/queue/ is the contract producers and consumers share (names, payloads, enqueueing). If it ' +
        "imported a handler, every producer, the API included, would load the worker's processors.",
      severity: 'error',
      from: { path: '^src/queue/' },
      to: { path: '^src/(processing|webhooks)/|\\.processor\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports are dependencies of the design too: an interface in the wrong folder is a wrong import.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts'],
    },
  },
};
