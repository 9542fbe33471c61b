// mocha's spec reporter plus one plain closing line, "N passed, N failed, N skipped",
// that CI logs can be read by whatever the runner.
const Mocha = require("mocha");

class SummarySpec extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once("end", () => {
      const s = runner.stats;
      const runtime = typeof Deno !== "undefined" ? "deno" : "node";
      process.stdout.write(`${runtime}: ${s.passes} passed, ${s.failures} failed, ${s.pending} skipped\n`);
    });
  }
}

module.exports = SummarySpec;
