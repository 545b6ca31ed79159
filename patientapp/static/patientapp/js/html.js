// htm bound to Preact: templates without a compiler.
import { h, render } from "preact";
import htm from "../vendor/htm-3.1.1/htm.module.js";

export const html = htm.bind(h);
export { render };
