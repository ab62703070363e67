/**
 * Browser stand-ins for the npm packages only Node code paths use: pngjs and
 * jpeg-js (decoding image files from disk; the page decodes images with the
 * browser's own decoder) and cli-progress (the terminal progress bar; the
 * page trains with progress "none").
 */
function unavailable(name: string): never {
  throw new Error(`${name} is used by stride only in Node; the page does not need it`);
}

export class PNG {
  static sync = { read: (): never => unavailable("pngjs"), write: (): never => unavailable("pngjs") };
  constructor() {
    unavailable("pngjs");
  }
}

class SingleBar {
  constructor() {
    unavailable("cli-progress");
  }
}

export const decode = (): never => unavailable("jpeg-js");
export const encode = (): never => unavailable("jpeg-js");
export default { decode, encode, SingleBar, Presets: { shades_classic: {} }, PNG };
