import test from 'ava';
import fc from 'fast-check';

import { assertFdName, decodeFdName, encodeFdName, fdIdHash, FDNAME_MAX, isValidFdName } from '../../src/systemd/index.js';

test('short identities stay readable and decode back', (t) => {
  const name = encodeFdName('log', '/var/log/libvirt/qemu/vm1.log');
  t.is(name, 'log./var/log/libvirt/qemu/vm1.log');
  t.deepEqual(decodeFdName(name), {
    kind: 'log',
    id: '/var/log/libvirt/qemu/vm1.log',
    hash: fdIdHash('/var/log/libvirt/qemu/vm1.log'),
  });
});

test("':', '%', spaces, control bytes and non-ASCII are escaped", (t) => {
  const id = 'vm: 1%\n\u00e9\u{1f600}';
  const name = encodeFdName('console', id);
  t.is(name, 'console.vm%3A%201%25%0A%C3%A9%F0%9F%98%80');
  t.true(isValidFdName(name));
  t.is(decodeFdName(name)?.id, id);
});

test('identities that do not fit in 255 characters become a hash', (t) => {
  const id = `/var/log/${'x'.repeat(300)}`;
  const name = encodeFdName('log', id);
  t.is(name, `log#${fdIdHash(id)}`);
  t.is(fdIdHash(id).length, 32);
  t.deepEqual(decodeFdName(name), { kind: 'log', id: null, hash: fdIdHash(id) });
  // Exactly at the limit still escapes; one more byte hashes.
  const fits = 'y'.repeat(FDNAME_MAX - 'log.'.length);
  t.is(encodeFdName('log', fits), `log.${fits}`);
  t.regex(encodeFdName('log', `${fits}y`), /^log#[0-9a-f]{32}$/);
});

test('every encoded name is one systemd accepts and decodes to its identity', (t) => {
  fc.assert(
    fc.property(fc.constantFrom('log', 'console', 'pipe-w'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 120 }), (kind, id) => {
      const name = encodeFdName(kind, id);
      const parts = decodeFdName(name);
      const hashed = name === `${kind}#${fdIdHash(id)}`;
      return isValidFdName(name) && parts !== null && parts.kind === kind && parts.hash === fdIdHash(id) &&
        parts.id === (hashed ? null : id);
    }),
  );
  t.pass();
});

test('names not made by encodeFdName do not decode', (t) => {
  for (const name of ['rpc', 'state', 'unknown', 'stored', 'log.', 'log.%2f', 'log.%41', 'log.%C3', 'Log.x', 'log#abc', `log#${'0'.repeat(31)}`]) {
    t.is(decodeFdName(name), null, name);
  }
});

test('invalid kinds, identities and names are rejected with a coded error', (t) => {
  for (const kind of ['', 'Log', 'a.b', 'a#b', 'a:b', '1log', 'k'.repeat(32)]) {
    t.throws(() => encodeFdName(kind, 'x'), { code: 'LW_ERR_SYSTEMD_FDNAME_INVALID' }, kind);
  }
  t.throws(() => encodeFdName('log', ''), { code: 'LW_ERR_SYSTEMD_FDNAME_INVALID' });
  t.throws(() => encodeFdName('log', 'lone \ud800 surrogate'), { code: 'LW_ERR_SYSTEMD_FDNAME_INVALID' });
  for (const name of ['', 'a:b', 'tab\there', 'del\u007f', '\u00e9', 'x'.repeat(256)]) {
    t.false(isValidFdName(name), JSON.stringify(name));
    t.throws(
      () => {
        assertFdName(name);
      },
      { code: 'LW_ERR_SYSTEMD_FDNAME_INVALID' },
    );
  }
  t.true(isValidFdName('with space'));
  t.true(isValidFdName('x'.repeat(255)));
});
