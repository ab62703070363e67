/**
 * Browser stand-in for node:path. Unlike the other stubs these work: the
 * library builds the names in its error messages with join() even when no
 * file is involved (decodeModel names "model/model.json"), so the page needs
 * POSIX-style joins, not a function that throws.
 */
export function join(...parts: string[]): string {
  const joined = parts.filter((p) => p !== "").join("/").replace(/\/{2,}/g, "/");
  const out: string[] = [];
  for (const seg of joined.split("/")) {
    if (seg === "." ) continue;
    if (seg === ".." && out.length && out[out.length - 1] !== "..") out.pop();
    else out.push(seg);
  }
  const text = out.join("/");
  return text === "" ? "." : text;
}

export function dirname(p: string): string {
  const i = p.replace(/\/+$/, "").lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : p.slice(0, i);
}

export function basename(p: string): string {
  const trimmed = p.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

export function extname(p: string): string {
  const base = basename(p);
  const i = base.lastIndexOf(".");
  return i <= 0 ? "" : base.slice(i);
}

export const sep = "/";
export default { join, dirname, basename, extname, sep };
