// The deployment's entry module (wrangler's `main`): the Worker and the Durable Object classes it binds.
// It sits above worker/ and durable-objects/ so that neither imports the other.
export { default, DeepStages } from "./worker/index.js";
export { StatsDO } from "./durable-objects/stats.js";
export { ControllerDO } from "./durable-objects/controller.js";
