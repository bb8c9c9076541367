'use strict';
// An HTTP service that reads and writes orq-otel identity/thread baggage (wire format v2).
//
//   PORT                              port to listen on (0 = pick a free one; default 0)
//   ORQ_OTEL_IDENTITY_SECRET          optional comma-separated secrets; the first signs
//   ORQ_OTEL_IDENTITY_SIGNATURE_TTL   seconds a signature stays valid (default 600)
//   ORQ_OTEL_IDENTITY_CLOCK_SKEW      seconds of clock difference tolerated (default 30)
//   NEXT_URL                          base URL that POST /relay sends to
//   TRACE_TO_STDERR=1                 print finished spans to stderr (off by default)
//
// Tracing must be set up, and instrumentation-http registered, BEFORE `http` is required:
// instrumentation-http patches the module through a require hook.

const { context } = require('@opentelemetry/api');
const {
  CompositePropagator,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
  ExportResultCode,
} = require('@opentelemetry/core');
const { NodeTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-node');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');

const spanProcessors = [];
if (process.env.TRACE_TO_STDERR === '1') {
  // stdout carries only the "listening on" line, so spans go to stderr
  const stderrExporter = {
    export(spans, done) {
      for (const span of spans) {
        process.stderr.write(
          `span ${span.name} kind=${span.kind} trace=${span.spanContext().traceId} ` +
            `parent=${span.parentSpanContext ? span.parentSpanContext.spanId : '-'}\n`,
        );
      }
      done({ code: ExportResultCode.SUCCESS });
    },
    shutdown: () => Promise.resolve(),
  };
  spanProcessors.push(new SimpleSpanProcessor(stderrExporter));
}

const provider = new NodeTracerProvider({ spanProcessors });
provider.register({
  // the default context manager of sdk-trace-node: AsyncLocalStorageContextManager
  propagator: new CompositePropagator({
    propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
  }),
});
registerInstrumentations({ tracerProvider: provider, instrumentations: [new HttpInstrumentation()] });

// Only now: the patched http module.
const http = require('node:http');
const orq = require('./orq-identity');

function envNumber(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number`);
  return n;
}

const secrets = orq.parseSecretList(process.env.ORQ_OTEL_IDENTITY_SECRET);
const codecOptions = {
  secrets,
  secret: secrets.length > 0 ? secrets[0] : undefined,
  ttlSeconds: envNumber('ORQ_OTEL_IDENTITY_SIGNATURE_TTL', orq.DEFAULT_TTL_SECONDS),
  clockSkewSeconds: envNumber('ORQ_OTEL_IDENTITY_CLOCK_SKEW', orq.DEFAULT_CLOCK_SKEW_SECONDS),
};
const nextUrl = process.env.NEXT_URL ? process.env.NEXT_URL.replace(/\/+$/, '') : null;

function sendJson(res, status, body) {
  const data = Buffer.from(JSON.stringify(body) + '\n', 'utf8');
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': data.length });
  res.end(data);
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('error', reject);
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch (error) {
        reject(Object.assign(new Error(`request body is not JSON: ${error.message}`), { status: 400 }));
      }
    });
  });
}

// A new connection for each request. The relay must not replay a POST, so it must not send
// one on an idle connection that the next service may be closing at that moment (Node's
// global agent keeps idle sockets 5 s, the same as uvicorn's and Node's servers' keep-alive
// timeout): the request would fail with "socket hang up".
const downstreamAgent = new http.Agent({ keepAlive: false });

function postJson(url, body) {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body === undefined ? {} : body), 'utf8');
    // http.request is made in the active context: instrumentation-http injects its baggage
    const request = http.request(
      url,
      {
        method: 'POST',
        agent: downstreamAgent,
        headers: { 'content-type': 'application/json', 'content-length': data.length },
      },
      (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let reply;
          try {
            reply = JSON.parse(text);
          } catch {
            reply = text;
          }
          resolve({ status: response.statusCode, reply });
        });
      },
    );
    request.on('error', reject);
    request.end(data);
  });
}

async function whoami(req, res, ctx) {
  await readJson(req).catch(() => ({})); // the body is not used
  // Read from the ACTIVE context's baggage, as instrumentation-http extracted it.
  const found = orq.readFromContext(ctx, codecOptions);
  sendJson(res, 200, {
    identity: found.identity,
    thread: found.thread,
    rejected: found.rejected,
    thread_rejected: found.threadRejected,
    baggage: req.headers.baggage === undefined ? null : req.headers.baggage,
  });
}

async function relay(req, res, ctx) {
  const body = await readJson(req);
  if (!nextUrl) return sendJson(res, 500, { error: 'NEXT_URL is not set' });
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return sendJson(res, 400, { error: 'body must be a JSON object' });
  }
  const path = body.path === undefined ? '/' : body.path;
  if (typeof path !== 'string' || !path.startsWith('/')) {
    return sendJson(res, 400, { error: 'path must be a string starting with /' });
  }
  let outgoing;
  try {
    const groups = {};
    if (body.identity !== undefined) groups.identity = body.identity;
    if (body.thread !== undefined) groups.thread = body.thread;
    outgoing = orq.contextWith(ctx, groups, codecOptions);
  } catch (error) {
    return sendJson(res, 400, { error: error.message });
  }
  let downstream;
  try {
    downstream = await context.with(outgoing, () => postJson(nextUrl + path, body.body));
  } catch (error) {
    return sendJson(res, 502, { error: `downstream request failed: ${error.message}` });
  }
  sendJson(res, 200, { status: downstream.status, reply: downstream.reply });
}

const routes = { '/whoami': whoami, '/relay': relay };

const server = http.createServer((req, res) => {
  const ctx = context.active(); // the context instrumentation-http extracted for this request
  const path = new URL(req.url, 'http://localhost').pathname;
  const handler = routes[path];
  if (!handler) return sendJson(res, 404, { error: 'not found' });
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'use POST' });
  handler(req, res, ctx).catch((error) => {
    if (!res.headersSent) sendJson(res, error.status || 500, { error: error.message });
    else res.destroy(error);
  });
});

server.listen(envNumber('PORT', 0), () => {
  process.stdout.write(`listening on ${server.address().port}\n`);
});

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  server.close(() => {
    provider.shutdown().finally(() => process.exit(0));
  });
  server.closeIdleConnections();
  setTimeout(() => {
    server.closeAllConnections();
    process.exit(0);
  }, 3000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
