/**
 * A lock on a folder that one process writes (stride train --out, stride
 * import --out): the file .stride.lock in it records the owner's process id,
 * host and start time. A second writer gets a FolderLockedError naming the
 * owner; a lock whose owner no longer runs on this host is taken over with a
 * note. The file is created whole by linking a finished temporary file into
 * place, which fails if a lock already exists, so two writers never both win.
 */
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { StrideError } from "../stride-error.js";
import { processAlive } from "./files.js";

/** The lock file's name inside the locked folder. */
export const LOCK_FILE = ".stride.lock";

/** What a lock file records about its owner. */
export interface LockOwner {
  pid: number;
  host: string;
  /** When the lock was taken (ISO 8601). */
  since: string;
  /** What the owner is doing, e.g. "stride train". */
  purpose: string;
  /** Tells this lock from another one with the same pid (after a restart). */
  token: string;
}

/** Another process holds the lock on a folder. */
export class FolderLockedError extends StrideError {
  readonly path: string;
  readonly owner: LockOwner | null;
  constructor(path: string, owner: LockOwner | null, message: string) {
    super(message);
    this.name = "FolderLockedError";
    this.path = path;
    this.owner = owner;
  }
}

/** A held lock; release() removes the lock file if it is still this one. */
export interface FolderLock {
  readonly path: string;
  readonly owner: LockOwner;
  release(): void;
}

function readOwner(path: string): LockOwner | null {
  try {
    const o = JSON.parse(readFileSync(path, "utf8")) as LockOwner;
    return typeof o?.pid === "number" && typeof o.host === "string" ? o : null;
  } catch {
    return null;
  }
}

function describe(o: LockOwner): string {
  return `process ${o.pid} on ${o.host} (${o.purpose}, since ${o.since})`;
}

/** Creates `path` holding `text`, failing with EEXIST if it exists; the file is never seen half-written. */
function createWhole(path: string, text: string): void {
  // Named like saveModel's temporaries, so a save into the folder clears one a killed process left.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.0.tmp`;
  const fd = openSync(tmp, "wx");
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
  } finally {
    unlinkSync(tmp);
  }
}

/**
 * Takes the lock on `dir` (creating the folder) for `purpose`; `note` hears
 * about a stale lock taken over. Throws FolderLockedError when a live
 * process holds it.
 */
export function lockFolder(dir: string, purpose: string, note: (line: string) => void = () => {}): FolderLock {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const owner: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString(), purpose, token: randomBytes(8).toString("hex") };
  const text = JSON.stringify(owner);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      createWhole(path, text);
      return { path, owner, release: () => release(path, owner.token) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw new FolderLockedError(path, null, `${path}: cannot create the lock file (${(e as Error).message})`);
    }
    const holder = readOwner(path);
    const fix = `wait for it to finish, or use another --out folder`;
    if (holder === null) {
      // Every lock is created whole, so an unreadable one was damaged or written by something else.
      throw new FolderLockedError(path, null, `${path}: ${dir} is locked by a lock file that cannot be read; if no stride process writes ${dir}, delete ${path}`);
    }
    if (holder.host !== owner.host) {
      throw new FolderLockedError(path, holder, `${dir} is in use by ${describe(holder)}: ${fix}; if that process is gone, delete ${path}`);
    }
    if (processAlive(holder.pid)) throw new FolderLockedError(path, holder, `${dir} is in use by ${describe(holder)}: ${fix}`);
    takeOver(path, holder);
    note(`note: took over the lock on ${dir} left by ${describe(holder)}, which no longer runs`);
  }
  throw new FolderLockedError(path, readOwner(path), `${dir}: another process keeps taking the lock; try again`);
}

/**
 * Removes a dead owner's lock. A guard file created exclusively serialises
 * take-overs, and the lock is removed only if it is still the dead owner's:
 * without that, two processes could each remove the lock the other just took.
 */
function takeOver(path: string, dead: LockOwner): void {
  const guard = `${path}.takeover`;
  try {
    createWhole(guard, String(process.pid));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    // A guard older than a minute was left by a process killed mid take-over.
    try {
      if (Date.now() - statSync(guard).mtimeMs > 60_000) unlinkSync(guard);
    } catch {
      // Removed meanwhile.
    }
    return; // the caller tries again
  }
  try {
    if (readOwner(path)?.token === dead.token) unlinkSync(path);
  } finally {
    unlinkSync(guard);
  }
}

function release(path: string, token: string): void {
  try {
    if (readOwner(path)?.token === token) unlinkSync(path);
  } catch {
    // Already gone.
  }
}
