// Validates Adaptive Cards with the official `adaptivecards` library (the renderer Teams
// clients use): reads a JSON array of cards on stdin, prints one JSON report per card.
const AC = require("adaptivecards/dist/adaptivecards.js"); // the UMD build: lib/ is extension-less ESM

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const cards = JSON.parse(input);
  const reports = cards.map((json) => {
    // The library checks "lang" with a global (/g) regex through exec(), whose lastIndex
    // carries over between cards and fails every other valid value: reset it each time.
    AC.CardElement.langProperty.regEx.lastIndex = 0;
    const context = new AC.SerializationContext(AC.Versions.v1_5);
    const card = new AC.AdaptiveCard();
    card.parse(json, context);
    const events = [];
    for (let i = 0; i < context.eventCount; i++) {
      const e = context.getEventAt(i);
      events.push({ phase: e.phase, event: e.event, message: e.message });
    }
    const issues = card.validateProperties().validationEvents.map((i) => ({ event: i.event, message: i.message }));
    return { version: card.version ? card.version.toString() : null, events, issues };
  });
  process.stdout.write(JSON.stringify(reports));
});
