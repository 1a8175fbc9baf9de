declare module "*.onnx" {
  const bytes: ArrayBuffer;
  export default bytes;
}
declare module "*.wasm" {
  const module: WebAssembly.Module;
  export default module;
}
declare module "*/uPlot.iife.min.js" {
  const text: string;
  export default text;
}
declare module "*/uPlot.min.css" {
  const text: string;
  export default text;
}
