/**
 * polyalign's layering (docs/architecture.md), checked by `npm run check:deps`:
 * cli → plugins → core, no cycles, no plugin family importing another's files.
 * spec/checks/dependency-rules.spec.ts proves each rule fires on a wrong import.
 */
module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      comment: "an import loop makes module order matter and hides which concept depends on which",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "core-knows-no-plugin",
      comment: "core defines the kinds and the machinery; it never imports a plugin or the CLI",
      severity: "error",
      from: { path: "^core/" },
      to: { path: "^(plugins|cli|bench|examples)/" },
    },
    {
      name: "no-core-barrel-inside-core",
      comment: "core/index.ts is the public API; core's own files import each other directly",
      severity: "error",
      from: { path: "^core/", pathNot: "^core/index\\.ts$" },
      to: { path: "^core/index\\.ts$" },
    },
    {
      name: "plugins-use-the-public-api",
      comment: "built-in plugins see core as a user plugin does: through core/index.ts",
      severity: "error",
      from: { path: "^plugins/" },
      to: { path: "^core/", pathNot: "^core/index\\.ts$" },
    },
    {
      name: "plugins-know-no-cli",
      severity: "error",
      from: { path: "^plugins/" },
      to: { path: "^(cli|bench)/" },
    },
    {
      name: "plugin-families-apart",
      comment: "a plugin asks the run's container for another kind; it never imports another family's file",
      severity: "error",
      from: { path: "^plugins/(encoders|fusion|objectives|tasks)/" },
      to: { path: "^plugins/", pathNot: "^plugins/$1/" },
    },
    {
      name: "tasks-apart",
      comment: "a task imports its own folder and plugins/tasks/shared, not another task's files",
      severity: "error",
      from: { path: "^plugins/tasks/([^/]+)/" },
      to: { path: "^plugins/tasks/", pathNot: ["^plugins/tasks/$1/", "^plugins/tasks/shared/"] },
    },
    {
      name: "no-spec-in-product",
      severity: "error",
      from: { pathNot: "^spec/" },
      to: { path: "^spec/" },
    },
    {
      name: "resolvable",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // TypeScript 7 has no JavaScript API; swc parses the sources (type-only imports included)
    parser: "swc",
    tsPreCompilationDeps: true,
    doNotFollow: { path: "node_modules" },
    // packages that name their entry only in "exports" (vega-lite)
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"] },
    exclude: { path: "(^|/)(dist|node_modules)/" },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
