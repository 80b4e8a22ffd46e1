export { readmeExamples, runReadmeExamples } from './readme.js';
export type { ReadmeExample } from './readme.js';
export { thrown, rejected } from './errors.js';
