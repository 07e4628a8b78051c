// openai.mjs — OpenAI's own JS client (npm `openai`) against `vlm serve --vlm`: lists the
// models, asks about an image (data URI, image part first) not streamed and streamed with
// usage, and gets a 400 as the client's BadRequestError. The greedy answer must equal the text
// of WANT_FILE.
// usage: node tests/clients/openai.mjs BASE_URL IMAGE QUESTION MAX_TOKENS WANT_FILE   (exit 0: all passed)
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';

const [baseURL, imagePath, question, maxTokens, wantFile] = process.argv.slice(2);
const want = readFileSync(wantFile, 'utf8');
let passed = 0, failed = 0;
const check = (cond, what) => {
  if (cond) passed++;
  else { failed++; console.error('FAIL ' + what); }
};

try {
  const client = new OpenAI({ baseURL, apiKey: 'none', maxRetries: 0, timeout: 120000 });
  const models = await client.models.list();
  check(models.data.length === 1 && models.data[0].object === 'model', `models: ${JSON.stringify(models.data)}`);
  const url = 'data:image/jpeg;base64,' + readFileSync(imagePath).toString('base64');
  const request = {
    model: models.data[0].id, max_tokens: Number(maxTokens), temperature: 0,
    messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }, { type: 'text', text: question }] }],
  };
  const r = await client.chat.completions.create(request);
  const c = r.choices[0];
  check(r.object === 'chat.completion' && c.message.role === 'assistant' && c.message.content === want &&
        ['stop', 'length'].includes(c.finish_reason) && r.usage.total_tokens === r.usage.prompt_tokens + r.usage.completion_tokens,
        `not streamed: '${c.message.content}' (${c.finish_reason}), want '${want}'`);
  let text = '', chunks = 0, finish = null, usage = null;
  for await (const chunk of await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } })) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    const ch = chunk.choices[0];
    if (ch && ch.delta.content) text += ch.delta.content;
    if (ch && ch.finish_reason) finish = ch.finish_reason;
  }
  check(text === want && finish === c.finish_reason && usage && usage.total_tokens === r.usage.total_tokens && chunks > 2,
        `streamed: '${text}' in ${chunks} chunks (${finish}, usage ${JSON.stringify(usage)})`);
  try {
    await client.chat.completions.create({ model: 'm', messages: [] });
    check(false, 'no messages: no error');
  } catch (e) {
    check(e instanceof OpenAI.BadRequestError && e.status === 400 && e.error && e.error.type === 'invalid_request_error' &&
          /messages/.test(e.message), `no messages: ${e}`);
  }
  console.log(`openai client: '${text}' in ${chunks} chunks`);
} catch (e) {
  failed++;
  console.error('FAIL ' + (e && e.stack || e));
}
console.log(`openai client: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
