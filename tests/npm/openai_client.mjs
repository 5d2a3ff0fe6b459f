// The server tests' real client: the openai npm package against `userllm serve`.
//   node openai_client.mjs BASE_URL API_KEY USER
// Prints one JSON object: each call's text (streamed calls joined from their chunks).
import OpenAI from "openai";

const [baseURL, apiKey, user] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });
const common = { model: "userllm", max_tokens: 8, temperature: 0, user };
const out = {};

const c = await client.completions.create({ ...common, prompt: "Based on the user's history, the next" });
out.completion = c.choices[0].text;
out.completion_usage = c.usage;
let text = "";
for await (const chunk of await client.completions.create({ ...common, prompt: "Based on the user's history, the next", stream: true }))
  text += chunk.choices[0]?.text ?? "";
out.completion_stream = text;

const messages = [{ role: "user", content: "Which movie next?" }];
const chat = await client.chat.completions.create({ ...common, messages });
out.chat = chat.choices[0].message.content;
out.chat_role = chat.choices[0].message.role;
text = "";
for await (const chunk of await client.chat.completions.create({ ...common, messages, stream: true }))
  text += chunk.choices[0]?.delta?.content ?? "";
out.chat_stream = text;

const models = await client.models.list();
out.models = models.data.map((m) => m.id);
try {
  await new OpenAI({ baseURL, apiKey: "wrong", maxRetries: 0 }).models.list();
  out.wrong_key = "accepted";
} catch (e) {
  out.wrong_key = e.status;
}
console.log(JSON.stringify(out));
