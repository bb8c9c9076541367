'use strict';
// End to end: two real service.js processes, A relays to B; B's /whoami reads what
// instrumentation-http extracted into the active context.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const readline = require('node:readline');

function start(env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'service.js')], {
      env: { ...process.env, PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => reject(new Error(`service exited with ${code}: ${stderr}`)));
    const lines = readline.createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      const match = /^listening on (\d+)$/.exec(line);
      if (!match) return reject(new Error(`unexpected first line: ${line}`));
      resolve({ child, url: `http://127.0.0.1:${match[1]}`, stderr: () => stderr });
    });
  });
}

function stop(service) {
  return new Promise((resolve) => {
    service.child.removeAllListeners('exit');
    service.child.once('exit', (code, signal) => resolve({ code, signal }));
    service.child.kill('SIGTERM');
  });
}

async function post(url, body, headers = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

const TRICKY = {
  id: 'user 1+2% é',
  display_name: '  Ada + Lovelace 100% 👩‍💻 ',
  tags: ['pro', 'a,b;c=d', '"quoted"'],
  metadata: { plan: 'pro', city: 'Zürich', nested: { x: [1, '+'] } },
};

test('two services: unsigned and signed relay, rejection, Python-style header, clean shutdown', async (t) => {
  const secret = 'shared-secret';
  const bUnsigned = await start({});
  const bSigned = await start({ ORQ_OTEL_IDENTITY_SECRET: `${secret},old-key` });
  const aUnsigned = await start({ NEXT_URL: bUnsigned.url });
  const aSigned = await start({ NEXT_URL: bSigned.url, ORQ_OTEL_IDENTITY_SECRET: secret });
  const aWrongKey = await start({ NEXT_URL: bSigned.url, ORQ_OTEL_IDENTITY_SECRET: 'another-key' });
  const all = [bUnsigned, bSigned, aUnsigned, aSigned, aWrongKey];
  t.after(() => Promise.all(all.filter((s) => s.child.exitCode === null).map(stop)));

  await t.test('unsigned relay', async () => {
    const r = await post(`${aUnsigned.url}/relay`, {
      identity: TRICKY,
      thread: { id: 'conv 7', tags: ['support'] },
      path: '/whoami',
      body: { hello: 'world' },
    });
    assert.equal(r.status, 200);
    assert.equal(r.json.status, 200);
    assert.deepEqual(r.json.reply.identity, TRICKY);
    assert.deepEqual(r.json.reply.thread, { id: 'conv 7', tags: ['support'] });
    assert.equal(r.json.reply.rejected, null);
    assert.match(r.json.reply.baggage, /^orq\.identity\.id\.b64=/);
    assert.doesNotMatch(r.json.reply.baggage, /orq\.identity\.sig/);
  });

  await t.test('signed relay', async () => {
    const r = await post(`${aSigned.url}/relay`, { identity: TRICKY, path: '/whoami', body: {} });
    assert.deepEqual(r.json.reply.identity, TRICKY);
    assert.equal(r.json.reply.rejected, null);
    assert.match(r.json.reply.baggage, /,orq\.identity\.sig=v2\.\d+\.[A-Za-z0-9_-]{43}$/);
  });

  await t.test('signed with another key: bad_signature', async () => {
    const r = await post(`${aWrongKey.url}/relay`, { identity: TRICKY, path: '/whoami', body: {} });
    assert.equal(r.json.reply.identity, null);
    assert.equal(r.json.reply.rejected, 'bad_signature');
  });

  await t.test('unsigned into a service with a secret: missing', async () => {
    const r = await post(`${bSigned.url}/whoami`, {}, { baggage: 'orq.identity.id=user-123' });
    assert.deepEqual(r.json, { identity: null, thread: null, rejected: 'missing', thread_rejected: null, baggage: 'orq.identity.id=user-123' });
  });

  await t.test('Python-style header by hand', async () => {
    const header = 'orq.identity.id=user-123,orq.identity.display_name=IkFkYSBMb3ZlbGFjZSI';
    const r = await post(`${bUnsigned.url}/whoami`, {}, { baggage: header });
    assert.deepEqual(r.json, {
      identity: { id: 'user-123', display_name: 'Ada Lovelace' },
      thread: null,
      rejected: null,
      thread_rejected: null,
      baggage: header,
    });
  });

  await t.test('no baggage', async () => {
    const r = await post(`${bUnsigned.url}/whoami`, {});
    assert.deepEqual(r.json, { identity: null, thread: null, rejected: null, thread_rejected: null, baggage: null });
  });

  await t.test('invalid identity: 400 naming the field', async () => {
    const r = await post(`${aUnsigned.url}/relay`, { identity: { id: 'u', tags: 'pro' }, path: '/whoami' });
    assert.equal(r.status, 400);
    assert.match(r.json.error, /identity\.tags/);
  });

  await t.test('SIGTERM shuts down cleanly', async () => {
    const { code } = await stop(aWrongKey);
    assert.equal(code, 0);
  });
});
