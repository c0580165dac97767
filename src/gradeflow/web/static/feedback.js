// A graded run's feedback as students and teachers read it: a summary, what to try,
// each test as a sentence with expected and actual side by side, and the output.
// Shared by the practice page, the submissions page and the authoring form, as
// window.GradeflowFeedback (plain scripts, no bundler: one namespace, no globals).
"use strict";

window.GradeflowFeedback = (() => {
  const FINAL = new Set(["passed", "failed", "error"]);
  const STATUS_TEXT = {
    queued: "Queued — waiting for a grader…",
    running: "Running your tests…",
    passed: "Passed!",
    failed: "Not yet — see the feedback below.",
    error: "Grading failed on our side.",
  };

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "className") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function renderFeedback(container, submission, nextLink, goToLine) {
    container.replaceChildren();
    if (!submission || !FINAL.has(submission.status)) return;
    const feedback = submission.feedback || {};
    const summary = el("p", { className: `summary status-${submission.status}`, "data-testid": "summary" },
      feedback.message || STATUS_TEXT[submission.status]);
    container.append(summary);
    if (feedback.line) container.append(lineLink(feedback.line, goToLine));
    if (feedback.outcome === "timeout" && feedback.function) {
      // The judge named the function the tests were calling when the time ran out.
      container.append(el("p", { className: "advice", "data-testid": "advice" },
        el("strong", {}, "What to try: "), "look for a loop that never ends in ",
        el("code", { "data-testid": "stopped-function" }, feedback.function),
        ` — ${TIMEOUT_KINDS} Try calling it yourself on a small input, with a print() inside the loop to see what changes.`));
    } else if (ADVICE[feedback.outcome]) {
      container.append(el("p", { className: "advice", "data-testid": "advice" },
        el("strong", {}, "What to try: "), ADVICE[feedback.outcome]));
    }
    if (submission.status === "passed") {
      const score = submission.score === null ? "" : ` You earned ${submission.score} points.`;
      const success = el("p", { className: "success", "data-testid": "success" }, `Well done — all tests pass.${score}`);
      if (nextLink) success.append(" ", nextLink);
      container.append(success);
    }
    if (submission.reused) {
      container.append(el("p", { className: "note" }, "Identical code was graded before; this is that result."));
    }
    appendTestsAndOutput(container, feedback, "Your program's", { goToLine });
  }

  const TIMEOUT_KINDS = "a while loop whose condition never becomes false, "
    + "or a call of itself without a case that stops it.";
  // What to try next when a run did not get as far as the tests' verdicts.
  const ADVICE = {
    timeout: "look for a loop that never ends — a while loop whose condition never becomes false, "
      + "or a function that calls itself without a case that stops it — in the code the stopped test calls. "
      + "Try that call yourself on a small input, with a print() inside the loop to see what changes.",
    memory_limit: "look for a list, string or dictionary that keeps growing — something added to in a "
      + "loop that never ends, or built far larger than the task needs — or a function that calls itself without end.",
    crashed: "your program ended before the tests did: look for exit(), quit(), sys.exit() or os._exit() "
      + "in your code, and for code that waits for input the tests never give.",
    syntax_error: "Python could not read your code. Check the marked line and the one before it for a "
      + "missing colon, bracket or quote, or indentation that does not line up.",
    import_error: "the problem happened while your file was loading, before any test ran: check the code "
      + "outside your functions, and that every function the handout asks for is there with that exact name.",
  };

  // The line of the student's code a result points at: a syntax or import error's,
  // else the first test error's.
  function problemLine(feedback) {
    if (!feedback) return null;
    if (feedback.line) return feedback.line;
    const failing = (feedback.tests || []).find((test) => test.line);
    return failing ? failing.line : null;
  }

  function lineLink(line, goToLine) {
    if (!goToLine) return el("p", { className: "line-ref" }, `Line ${line} of your code`);
    const button = el("button", { type: "button", className: "link line-ref", "data-testid": "line-link" },
      `Go to line ${line} of your code`);
    button.addEventListener("click", () => goToLine(line));
    return el("p", {}, button);
  }

  // A test's id as words: `GreetTest.test_greets_a_person_by_name` is "greets a person
  // by name" (the docstring's first line, when the test has one, says it better).
  function testSentence(test) {
    if (test.description) return test.description;
    const method = test.id.split(".").pop();
    const words = method.replace(/^test_?/, "").replace(/([a-z0-9])([A-Z])/g, "$1 $2")
      .replace(/_+/g, " ").trim().toLowerCase();
    return words || method;
  }

  const OUTCOME_MARK = {
    passed: ["✓", "ok", "passed"],
    failed: ["✗", "bad", "failed"],
    error: ["✗", "bad", "error"],
    skipped: ["–", "skip", "skipped"],
    not_run: ["·", "skip", "not run"],
  };

  // Expected and actual (reprs) side by side, the part where they differ marked: what
  // lies between their common start and their common end.
  function comparison(expected, actual) {
    let start = 0;
    while (start < expected.length && start < actual.length && expected[start] === actual[start]) start++;
    let end = 0;
    while (end < expected.length - start && end < actual.length - start
      && expected[expected.length - 1 - end] === actual[actual.length - 1 - end]) end++;
    const marked = (text) => el("code", {},
      text.slice(0, start),
      el("mark", { className: start + end === text.length ? "gap" : "" }, text.slice(start, text.length - end)),
      text.slice(text.length - end));
    return el("dl", { className: "compare", "data-testid": "compare" },
      el("div", { className: "expected" }, el("dt", {}, "Expected"), el("dd", { "data-testid": "expected" }, marked(expected))),
      el("div", { className: "actual" }, el("dt", {}, "Your code gave"), el("dd", { "data-testid": "actual" }, marked(actual))));
  }

  // Per-test results and captured output of a run, for students and teachers alike
  // (teachers also see each test's id).
  function appendTestsAndOutput(container, feedback, whose, { goToLine = null, showIds = false } = {}) {
    const tests = feedback.tests || [];
    if (tests.length) {
      const list = el("ul", { className: "tests", "data-testid": "tests" });
      for (const test of tests) {
        const [icon, kind, label] = OUTCOME_MARK[test.outcome] || ["?", "bad", test.outcome];
        const item = el("li", { className: `test ${kind}`, "data-outcome": test.outcome, "data-test-id": test.id, title: test.id },
          el("span", { className: "icon", "aria-hidden": "true" }, icon),
          el("span", { className: "name" }, testSentence(test)), " ",
          el("span", { className: "outcome" }, label));
        if (showIds) item.append(" ", el("code", { className: "test-id" }, test.id));
        const compared = typeof test.expected === "string" && typeof test.actual === "string";
        if (test.note) item.append(el("p", { className: "test-note" }, test.note));
        if (compared) item.append(comparison(test.expected, test.actual));
        if (test.line) item.append(lineLink(test.line, goToLine));
        if (test.output) {
          item.append(el("details", { className: "test-output" }, el("summary", {}, `${whose} output during this test`),
            el("pre", { "data-testid": "test-output" }, test.output)));
        }
        if (test.message && compared) {
          item.append(el("details", {}, el("summary", {}, "Full message"), el("pre", { className: "message" }, test.message)));
        } else if (test.message) {
          item.append(el("pre", { className: "message" }, test.message));
        }
        list.append(item);
      }
      container.append(list);
    }
    for (const stream of ["stdout", "stderr"]) {
      if (feedback[stream]) {
        container.append(el("details", {}, el("summary", {}, `${whose} ${stream}`), el("pre", {}, feedback[stream])));
      }
    }
  }

  // A run in progress, from its live progress events: the tests finished so far,
  // ticked off in the order they finished, and the one running. Only the final result
  // carries messages and the verdict; this is how far the run has got.
  function renderProgress(container, progress) {
    const finished = progress.finished || [];
    const list = el("ul", { className: "tests", "data-testid": "progress-tests" });
    for (const test of finished) {
      const [icon, kind, label] = OUTCOME_MARK[test.outcome] || ["?", "bad", test.outcome];
      list.append(el("li", { className: `test ${kind}`, "data-outcome": test.outcome, "data-test-id": test.id, title: test.id },
        el("span", { className: "icon", "aria-hidden": "true" }, icon),
        el("span", { className: "name" }, testSentence(test)), " ",
        el("span", { className: "outcome" }, label)));
    }
    if (progress.running) {
      list.append(el("li", { className: "test running", "data-outcome": "running", "data-test-id": progress.running, title: progress.running },
        el("span", { className: "icon", "aria-hidden": "true" }, "…"),
        el("span", { className: "name" }, testSentence({ id: progress.running })), " ",
        el("span", { className: "outcome" }, "running")));
    }
    const left = progress.total - finished.length - (progress.running ? 1 : 0);
    container.replaceChildren(
      el("p", { className: "summary", "data-testid": "progress-summary" },
        `${progress.passed} of ${progress.total} tests passed so far`),
      list);
    if (left > 0) container.append(el("p", { className: "note" }, `${left} more to run.`));
  }

  return { FINAL, STATUS_TEXT, el, renderFeedback, renderProgress, problemLine, appendTestsAndOutput };
})();
