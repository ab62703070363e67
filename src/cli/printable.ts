/**
 * Text that came from a file (class names in model.json, a dataset's folder
 * names) is printed through printable(): a class named "\x1b]0;…" would
 * otherwise retitle the user's terminal or hide the output, and bidirectional
 * overrides would reorder what the line shows.
 */

// C0 and C1 controls, DEL, and the Unicode marks and overrides that reorder text.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** The string with control characters written as \xNN (or \uNNNN) escapes, safe to print on a terminal. */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}
