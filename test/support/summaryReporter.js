// Prints one plain closing line, "countersign: N passed, N failed", that CI log readers recognise.
// A suite that never ran its tests (it failed to load, or threw at import) counts as a failure, and so
// does a run that broke or was interrupted, or left snapshots failing: the line can never read "0 failed" on a red run.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const broken = results.testResults.filter((suite) => suite.testExecError || (suite.failureMessage && suite.numFailingTests === 0));
    let failed = results.numFailedTests + broken.length;
    if (failed === 0 && (results.runExecError || results.snapshot.failure || results.wasInterrupted)) failed = 1;
    for (const suite of broken) process.stdout.write(`\ncountersign: suite did not run: ${suite.testFilePath}`);
    const skipped = results.numPendingTests + results.numTodoTests;
    process.stdout.write(`\ncountersign: ${results.numPassedTests} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : '') + '\n');
  }
}
module.exports = SummaryReporter;
