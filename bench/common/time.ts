/** Clock and pause shared by the benches (wall-clock milliseconds, sub-millisecond). */

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const now = () => performance.timeOrigin + performance.now();
