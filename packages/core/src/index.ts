export { binding } from './native/binding.js';
