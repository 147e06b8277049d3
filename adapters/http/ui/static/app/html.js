// Preact with htm's tagged templates: components written as HTML, no build step (ADR 0036).
// Templates set text and attributes, never innerHTML, so API data cannot become markup.
import { h, render } from "preact";
import htm from "htm";

export const html = htm.bind(h);
export { render };
