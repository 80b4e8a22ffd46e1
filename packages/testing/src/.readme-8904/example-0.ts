import { readmeExamples } from '@buckley/testing';
import assert from 'node:assert/strict';

const examples = readmeExamples(new URL('.', import.meta.url).pathname + '../..');
assert.ok(examples.length >= 1);