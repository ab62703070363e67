// Work sharing inside one job. Threads take items from a shared counter
// instead of fixed ranges: on a machine shared with other programs a thread
// the OS has not scheduled leaves its items to the threads that are running,
// rather than making every other thread wait for its fixed share.

/** Takes the next item of the current job; a value >= the item count means none is left. */
// @ts-ignore: decorator
@inline export function claim(counter: usize): i32 {
  return atomic.add<i32>(counter, 1);
}

/** Where block b of `blocks` over n rows starts: at a multiple of `align` (4 unless given), the last block ending at n. */
// @ts-ignore: decorator
@inline export function blockStart(n: i32, b: i32, blocks: i32, align: i32 = 4): i32 {
  return b >= blocks ? n : min(n, (((n * b) / blocks + align - 1) / align) * align);
}
