// jsdom lacks TextEncoder, which every browser JupyterLab runs in has.
const { TextEncoder } = require('util');
globalThis.TextEncoder = TextEncoder;
