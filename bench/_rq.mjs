import { requestRun, requestLines } from './requests.mjs'
const payload = { content: 'The quick brown fox jumps over the lazy dog', author: { id: '42', name: 'Ada' }, tags: ['a', 'b', 'c'] }
for (const line of requestLines(await requestRun(payload))) console.log(line)
