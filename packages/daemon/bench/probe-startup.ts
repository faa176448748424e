// Node's own part of a re-exec, measured the way the daemon's new image meets it: prints (JSON) the
// ms from Node's time origin (the process start) to the first statement of an ES module, and to
// having loaded what draining a pipe into a rotating file needs (the native layer and the rotating
// file, as upgrade/resume.ts does). bench/upgrade-stall.ts runs it to put the re-exec figures
// next to this floor.
const firstStatement = performance.now();
await import('@logwarden/core/native');
await import('@logwarden/core/rotating-file');
process.stdout.write(`${JSON.stringify({ firstStatement, loaded: performance.now() })}\n`);
