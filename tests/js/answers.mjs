// Loads a module printed by `asgi-closeguard export-js` and prints, as JSON on stdout, what it
// answers for the questions read as JSON on stdin. tests/js/test_node.py compares the answers
// with Python's describe().
//
//   node tests/js/answers.mjs path/to/closeguard.js < questions.json
//
// questions: {"describe": [[codeOrEvent, lang], ...], "errors": [[codeOrEvent, lang], ...],
//             "every_number": [first, last]}
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const closeguard = await import(pathToFileURL(process.argv[2]).href);
const questions = JSON.parse(readFileSync(0, "utf8"));

function answer([codeOrEvent, lang]) {
  const description = closeguard.describeClose(codeOrEvent, lang);
  return {
    ...description,
    shouldReconnect: closeguard.shouldReconnect(codeOrEvent),
    reconnectText: closeguard.reconnectText(codeOrEvent, lang),
  };
}

function failure([codeOrEvent, lang]) {
  try {
    closeguard.describeClose(codeOrEvent, lang);
  } catch (error) {
    return { error: error.constructor.name, message: error.message };
  }
  return { error: null };
}

// One character per number, "n", "y" or "b" for reconnect, upper case when sendable: the
// rules for every number a close frame can carry, in one short string.
function everyNumber([first, last]) {
  let letters = "";
  for (let code = first; code <= last; code += 1) {
    const { reconnect, sendable } = closeguard.describeClose(code);
    const letter = reconnect[0];
    letters += sendable ? letter.toUpperCase() : letter;
  }
  return letters;
}

process.stdout.write(
  JSON.stringify({
    languages: closeguard.LANGUAGES,
    defaultLanguage: closeguard.DEFAULT_LANGUAGE,
    exports: Object.keys(closeguard).sort(),
    describe: questions.describe.map(answer),
    defaults: questions.describe.map(([codeOrEvent]) => closeguard.describeClose(codeOrEvent)),
    errors: questions.errors.map(failure),
    everyNumber: everyNumber(questions.every_number),
  }),
);
