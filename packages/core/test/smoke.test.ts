import test from 'ava';
import { binding } from '../src/native/binding.js';

test('addon loads and makes a pipe', (t) => {
  const [r, w] = binding.pipe();
  t.true(r > 2 && w > 2);
});
