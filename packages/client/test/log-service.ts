// A small but real log service for the client tests: an RpcServer whose handlers keep each log in a
// plain file under a temp dir and pump a real pipe into it. (The real daemon lives in packages/daemon;
// the client must not depend on it, so these tests carry their own.)
import { appendFileSync, existsSync, mkdtempSync, openSync, readSync, closeSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipe } from '@logwarden/core/native';
import { LwError, RpcServer, type Domain, type LogInfo, type LogLevel, type WirePosition } from '@logwarden/core/protocol';

interface Log {
  path: string;
  file: string;
  driver: string;
  domain: Domain | null;
  open: boolean;
  bytesIn: number;
}

export interface LogService {
  server: RpcServer;
  dir: string;
  sock: string;
  logs: Map<string, Log>;
  calls: string[];
  level: LogLevel | null;
  fileOf(path: string): string;
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function startLogService(): LogService {
  const dir = mkdtempSync(join(tmpdir(), 'lw-client-'));
  const sock = join(dir, 'd.sock');
  const logs = new Map<string, Log>();
  const calls: string[] = [];
  const pumps = new Set<Socket>();
  const started = Date.now();
  const svc: LogService = {
    server: undefined as unknown as RpcServer,
    dir,
    sock,
    logs,
    calls,
    level: null,
    fileOf: (path) => join(dir, path.replaceAll('/', '_')),
    close: async () => {
      await svc.server.close();
      for (const p of pumps) p.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };

  const check = (path: string): void => {
    if (path.split('/').includes('..') || path.startsWith('/')) throw new LwError('LW_ERR_LOG_PATH_INVALID', `bad path ${path}`);
  };
  const ensure = (path: string, driver: string, domain: Domain | null): Log => {
    check(path);
    let log = logs.get(path);
    if (log === undefined) {
      log = { path, file: svc.fileOf(path), driver, domain, open: false, bytesIn: 0 };
      if (!existsSync(log.file)) writeFileSync(log.file, '');
      logs.set(path, log);
    }
    return log;
  };
  const get = (path: string): Log => {
    check(path);
    const log = logs.get(path);
    if (log === undefined) throw new LwError('LW_ERR_LOG_NOT_FOUND', `no log ${path}`, { path });
    return log;
  };
  const end = (log: Log): WirePosition => {
    const st = statSync(log.file);
    return { inode: String(st.ino), offset: st.size };
  };
  const info = (log: Log): LogInfo => {
    const position = end(log);
    return { path: log.path, driver: log.driver, domain: log.domain, open: log.open, bytesIn: log.bytesIn, bytesWritten: position.offset, bytesDropped: 0, position };
  };
  const readAt = (log: Log, position: WirePosition, maxLen: number): { data: Buffer; position: WirePosition; gap: number } => {
    const now = end(log);
    // One file, no rotation: inode 0 (POSITION_START) means its beginning.
    if (position.inode !== '0' && position.inode !== now.inode) throw new LwError('LW_ERR_LOG_POSITION_INVALID');
    const from = position.inode === '0' ? 0 : position.offset;
    if (from > now.offset) throw new LwError('LW_ERR_LOG_POSITION_INVALID', 'offset beyond the end');
    const buf = Buffer.alloc(Math.min(maxLen, now.offset - from));
    const fd = openSync(log.file, 'r');
    try {
      const n = readSync(fd, buf, 0, buf.length, from);
      return { data: buf.subarray(0, n), position: { inode: now.inode, offset: from + n }, gap: 0 };
    } finally {
      closeSync(fd);
    }
  };

  svc.server = new RpcServer(
    {
      openLog: (_ctx, args) => {
        calls.push(`openLog ${args.path}`);
        const log = ensure(args.path, args.driver, args.domain);
        if ((args.flags & 1) !== 0) writeFileSync(log.file, '');
        const p = pipe();
        const reader = new Socket({ fd: p.readFd, readable: true, writable: false });
        pumps.add(reader);
        log.open = true;
        reader.on('data', (chunk: Buffer) => {
          appendFileSync(log.file, chunk);
          log.bytesIn += chunk.length;
        });
        // Every writer gone (the client's copy included): the log is closed.
        reader.on('end', () => {
          log.open = false;
          pumps.delete(reader);
          reader.destroy();
        });
        return Promise.resolve({ result: { position: end(log) }, fds: [p.writeFd] });
      },
      getPosition: (_ctx, args) => Promise.resolve({ result: { position: end(get(args.path)) } }),
      read: (_ctx, args) => Promise.resolve({ result: readAt(get(args.path), args.position, args.maxLen) }),
      append: (_ctx, args) => {
        const log = ensure(args.path, args.driver, args.domain);
        appendFileSync(log.file, args.data);
        log.bytesIn += args.data.length;
        return Promise.resolve({ result: { position: end(log) } });
      },
      follow: (ctx, args) => {
        const log = get(args.path);
        let position = args.position.inode === '0' ? { inode: end(log).inode, offset: 0 } : args.position;
        const sink = ctx.openStream();
        void (async () => {
          try {
            for (;;) {
              const chunk = readAt(log, position, 64 * 1024);
              if (chunk.data.length > 0) {
                await sink.write(chunk);
                position = chunk.position;
              } else {
                await sleep(10);
              }
            }
          } catch {
            sink.end();
          }
        })();
        return Promise.resolve({ result: { streamId: sink.streamId } });
      },
      list: () => Promise.resolve({ result: { logs: [...logs.values()].map(info) } }),
      removeLog: (_ctx, args) => {
        const log = get(args.path);
        unlinkSync(log.file);
        logs.delete(args.path);
        return Promise.resolve({ result: { removed: 1 } });
      },
      stats: () => Promise.resolve({ result: { uptimeMs: Date.now() - started, upgrades: 0, logs: [...logs.values()].map(info) } }),
      setLogLevel: (_ctx, args) => {
        svc.level = args.level;
        return Promise.resolve({ result: {} });
      },
      upgrade: () => {
        calls.push('upgrade');
        return Promise.resolve({ result: {} });
      },
    },
    { authorize: (peer) => peer.uid === process.getuid?.(), maxClients: 32, serverName: 'test-logd' },
  );
  svc.server.listen(sock);
  return svc;
}
