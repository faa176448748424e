import test from 'ava';
import { Logger, isLogLevel } from '../src/logger.js';

function capture(opts: ConstructorParameters<typeof Logger>[0] = {}): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: new Logger({ ...opts, write: (line) => lines.push(line) }), lines };
}

test('info is the default level: debug lines are dropped, the others kept', (t) => {
  const { logger, lines } = capture();
  logger.debug('hidden');
  logger.info('shown');
  logger.warn('warned');
  logger.error('failed');
  t.is(lines.length, 3);
  t.regex(lines[0] ?? '', /^\d{4}-\d\d-\d\dT[\d:.]+Z INFO shown\n$/);
  t.regex(lines[1] ?? '', / WARN warned\n$/);
  t.regex(lines[2] ?? '', / ERROR failed\n$/);
});

test('setLevel changes the filter both ways', (t) => {
  const { logger, lines } = capture({ level: 'error' });
  logger.warn('no');
  logger.setLevel('debug');
  t.is(logger.level, 'debug');
  t.true(logger.enabled('debug'));
  logger.debug('yes');
  logger.setLevel('warn');
  t.false(logger.enabled('info'));
  logger.info('no');
  t.deepEqual(lines.map((l) => l.split(' ').slice(1).join(' ')), ['DEBUG yes\n']);
});

test('syslog style prefixes the priority so journald keeps it', (t) => {
  const { logger, lines } = capture({ style: 'syslog', level: 'debug' });
  logger.error('e');
  logger.warn('w');
  logger.info('i');
  logger.debug('d');
  t.deepEqual(lines, ['<3>e\n', '<4>w\n', '<6>i\n', '<7>d\n']);
});

test('fields are appended as key=value and a message stays on one line', (t) => {
  const { logger, lines } = capture({ style: 'syslog' });
  const err = Object.assign(new Error('disk full'), { code: 'ENOSPC' });
  logger.info('two\nlines', { path: 'qemu/vm1.log', bytes: 42, note: 'has space', err, skipped: undefined, obj: { a: 1 } });
  t.is(lines[0], '<6>two\\nlines path=qemu/vm1.log bytes=42 note="has space" err="ENOSPC: disk full" obj={"a":1}\n');
});

test('isLogLevel accepts exactly the four levels', (t) => {
  for (const l of ['error', 'warn', 'info', 'debug']) t.true(isLogLevel(l));
  for (const l of ['trace', 'INFO', '', 3, null, undefined, 'toString']) t.false(isLogLevel(l));
});
