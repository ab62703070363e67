/**
 * A drawing turned into an MNIST digit, the way the MNIST images were made:
 * the strokes' bounding box scaled so that its longer side is 20 pixels of
 * 28, then placed so that its centre of mass is the image's centre.
 */
const SIDE = 28;
const BOX = 20;

/** grey: width * height values in [0, 1] (ink = 1). Returns 28 * 28 values, or null for an empty drawing. */
export function drawingToDigit(grey: Float32Array, width: number, height: number): Float32Array | null {
  let top = height, bottom = -1, left = width, right = -1;
  let mass = 0, cx = 0, cy = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = grey[y * width + x];
      if (v <= 0.05) continue;
      top = Math.min(top, y);
      bottom = Math.max(bottom, y);
      left = Math.min(left, x);
      right = Math.max(right, x);
      mass += v;
      cx += v * (x + 0.5);
      cy += v * (y + 0.5);
    }
  }
  if (bottom < 0) return null;
  cx /= mass;
  cy /= mass;
  // Source pixels per output pixel, so the longer side of the box becomes 20 pixels.
  const step = Math.max(bottom - top + 1, right - left + 1) / BOX;
  const out = new Float32Array(SIDE * SIDE);
  // Each output pixel averages the source area it covers (sampled on a 4x4 grid per pixel).
  const samples = 4;
  for (let oy = 0; oy < SIDE; oy++) {
    for (let ox = 0; ox < SIDE; ox++) {
      let sum = 0;
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          const x = Math.floor(cx + (ox + (sx + 0.5) / samples - SIDE / 2) * step);
          const y = Math.floor(cy + (oy + (sy + 0.5) / samples - SIDE / 2) * step);
          if (x >= 0 && x < width && y >= 0 && y < height) sum += grey[y * width + x];
        }
      }
      out[oy * SIDE + ox] = Math.min(1, sum / (samples * samples));
    }
  }
  return out;
}
