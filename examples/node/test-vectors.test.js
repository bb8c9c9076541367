'use strict';
// The README's test vectors, both directions, through the real W3CBaggagePropagator too,
// plus the reading rules and round trips of tricky values.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { context, propagation, ROOT_CONTEXT, defaultTextMapGetter, defaultTextMapSetter } = require('@opentelemetry/api');
const { W3CBaggagePropagator } = require('@opentelemetry/core');

const orq = require('./orq-identity');

const SECRET = 'orq-otel-test-vector-secret';
const EXPIRY = 1767225600;
const NOW = EXPIRY - 300; // inside the validity window of the vectors
const quiet = { onWarning: false };

const FIRST = {
  id: 'user 1+2%',
  display_name: 'Ada Lovelace',
  tags: ['pro', 'a,b;c=d'],
  metadata: { plan: 'pro', city: 'Zürich' },
};
const SECOND = { id: 'user-123', display_name: 'Ada Lovelace', tags: ['pro'] };

const FIRST_HEADER =
  'orq.identity.id.b64=InVzZXIgMSsyJSI,orq.identity.display_name=IkFkYSBMb3ZlbGFjZSI,' +
  'orq.identity.tags=WyJwcm8iLCJhLGI7Yz1kIl0,orq.identity.metadata=eyJwbGFuIjoicHJvIiwiY2l0eSI6IlrDvHJpY2gifQ';
const SECOND_HEADER =
  'orq.identity.id=user-123,orq.identity.display_name=IkFkYSBMb3ZlbGFjZSI,orq.identity.tags=WyJwcm8iXQ,' +
  'orq.identity.sig=v2.1767225600.kVVIceYvLTK3dD3wo-BhgdDdxIfCqX-FU3Zf6g87PnQ';
const THIRD_HEADER = FIRST_HEADER + ',orq.identity.sig=v2.1767225600.LtvMomdj5jr38kNmbu_Vq_lUrLQVU7B-z8-1n6ZmEE0';
// The thread signed beside SECOND: its signature covers SECOND's entries too.
const THREAD_HEADER =
  SECOND_HEADER +
  ',orq.thread.id=conv-42,orq.thread.tags=WyJzdXBwb3J0Il0,' +
  'orq.thread.sig=v2.1767225600.tx375n2YyfTKBSNZqblE_XeymbWj3dyZ8Us1linAzo8';
// The previous release's signatures (v1), still verified during an upgrade.
const SECOND_HEADER_V1 = SECOND_HEADER.replace(
  /v2\.1767225600\.[^,]*$/,
  'v1.1767225600.Ioxq__NT3yQc605mhoReFzLeBffA3OzNPrjb-R-iF0c',
);

const VECTORS = [
  { name: 'first (unsigned)', identity: FIRST, options: {}, header: FIRST_HEADER },
  { name: 'second (signed)', identity: SECOND, options: { secret: SECRET, expiry: EXPIRY }, header: SECOND_HEADER },
  { name: 'third (first, signed)', identity: FIRST, options: { secret: SECRET, expiry: EXPIRY }, header: THIRD_HEADER },
];

const propagator = new W3CBaggagePropagator();

function headerToEntries(header) {
  return Object.fromEntries(
    header.split(',').map((pair) => {
      const i = pair.indexOf('=');
      return [pair.slice(0, i), pair.slice(i + 1)];
    }),
  );
}

function inject(ctx) {
  const carrier = {};
  propagator.inject(ctx, carrier, defaultTextMapSetter);
  return carrier.baggage;
}

function extract(headers) {
  return propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
}

function decodeHeader(header, options = {}) {
  const baggage = propagation.getBaggage(extract({ baggage: header }));
  return orq.decodeIdentity(orq.entriesFromBaggage(baggage), { ...quiet, ...options });
}

test('test vectors: encode gives the exact entries and header', () => {
  for (const vector of VECTORS) {
    const entries = orq.encodeIdentity(vector.identity, vector.options);
    assert.deepEqual(Object.entries(entries), Object.entries(headerToEntries(vector.header)), vector.name);
    assert.equal(orq.toHeader(entries), vector.header, vector.name);
  }
});

test('test vectors: the real W3CBaggagePropagator writes the exact header', () => {
  for (const vector of VECTORS) {
    const ctx = orq.contextWith(ROOT_CONTEXT, { identity: vector.identity }, vector.options);
    assert.equal(inject(ctx), vector.header, vector.name);
  }
});

test('test vectors: decode gives the identity back (plain entries and through extract)', () => {
  for (const vector of VECTORS) {
    const options = { ...quiet, now: NOW, secrets: vector.options.secret ? [SECRET] : [] };
    const fromEntries = orq.decodeIdentity(headerToEntries(vector.header), options);
    assert.deepEqual(fromEntries.identity, vector.identity, vector.name);
    assert.equal(fromEntries.rejected, null, vector.name);
    const fromHeader = decodeHeader(vector.header, options);
    assert.deepEqual(fromHeader.identity, vector.identity, vector.name);
    assert.equal(fromHeader.rejected, null, vector.name);
  }
});

test('test vector 2: the signed message is the documented length-prefixed items', () => {
  const message =
    '2:v216:orq.identity.sig25:orq.identity.display_name19:IkFkYSBMb3ZlbGFjZSI' +
    '15:orq.identity.id8:user-12317:orq.identity.tags10:WyJwcm8iXQ3:exp10:1767225600';
  const mac = crypto.createHmac('sha256', SECRET).update(message, 'utf8').digest('base64url');
  assert.equal(`v2.${EXPIRY}.${mac}`, headerToEntries(SECOND_HEADER)['orq.identity.sig']);
});

test('the thread vector: signed beside the identity, and only valid beside it', () => {
  const ctx = orq.contextWith(
    ROOT_CONTEXT,
    { identity: SECOND, thread: { id: 'conv-42', tags: ['support'] } },
    { secret: SECRET, expiry: EXPIRY },
  );
  assert.equal(inject(ctx), THREAD_HEADER);
  const read = (header) => orq.decodeThread(headerToEntries(header), { ...quiet, secrets: [SECRET], now: NOW });
  assert.deepEqual(read(THREAD_HEADER).thread, { id: 'conv-42', tags: ['support'] });
  // the victim's signed thread beside someone else's identity: not accepted
  const other = orq.toHeader(orq.encodeIdentity({ id: 'mallory' }, { secret: SECRET, expiry: EXPIRY }));
  const threadPart = THREAD_HEADER.slice(SECOND_HEADER.length);
  assert.equal(read(other + threadPart).rejected, 'bad_signature');
  // setting another identity signs the thread again
  const moved = orq.contextWith(ctx, { identity: { id: 'mallory' } }, { secret: SECRET, expiry: EXPIRY });
  const header = inject(moved);
  assert.deepEqual(read(header).thread, { id: 'conv-42', tags: ['support'] });
});

test('v1 signatures of the previous release still verify, but never a folded one', () => {
  const d = (entries) => orq.decodeIdentity(entries, { ...quiet, secrets: [SECRET], now: NOW });
  assert.equal(d(headerToEntries(SECOND_HEADER_V1)).rejected, null);
  // the display_name and tags lines folded into one added key: the same v1 lines
  const signed = headerToEntries(SECOND_HEADER_V1);
  const folded = {
    'orq.identity.id': 'user-123',
    ['orq.identity.display_name=IkFkYSBMb3ZlbGFjZSI\norq.identity.id=user-123\norq.identity.tags']: 'WyJwcm8iXQ',
    'orq.identity.sig': signed['orq.identity.sig'],
  };
  assert.equal(d(folded).rejected, 'bad_signature');
});

test('signed vectors read without a secret are still read (nothing to verify)', () => {
  assert.deepEqual(decodeHeader(SECOND_HEADER).identity, SECOND);
});

test('only a literal ; in the header starts W3C properties (through the real propagator)', () => {
  const read = (header) => orq.readFromContext(extract({ baggage: header }), quiet).identity;
  assert.deepEqual(read('orq.identity.id=t%C3%A9st%20user%3B1'), { id: 'tést user;1' });
  assert.deepEqual(read('orq.identity.id=user-1;p=1'), { id: 'user-1' });
  assert.deepEqual(read('orq.identity.id=a%3Bb;p=%3B'), { id: 'a;b' });
});

test('Python-style minimal headers', () => {
  assert.deepEqual(decodeHeader('orq.identity.id=user-123').identity, { id: 'user-123' });
  assert.deepEqual(decodeHeader('orq.identity.id=user-123,orq.identity.display_name=IkFkYSBMb3ZlbGFjZSI').identity, {
    id: 'user-123',
    display_name: 'Ada Lovelace',
  });
});

const TRICKY = [
  { id: 'a b', display_name: '  Ada  Lovelace  ' },
  { id: 'plus+sign', display_name: '1+1=2', tags: ['+', '%', '%20', '+%2B'] },
  { id: '100%', display_name: '%E2%9C%93 not decoded twice', metadata: { pct: '%', plus: '+' } },
  { id: 'comma,semi;eq="q"', display_name: ',;="\'\\', tags: [',', ';', '=', '"'] },
  { id: 'émoji-🎉', display_name: '👩‍💻 Zürich 東京', tags: ['🏳️‍🌈'], metadata: { '🔑': { nested: ['ü', 1, true, null] } } },
  { id: 'tab\u00a0nbsp inside', display_name: '\t leading and trailing whitespace \n', tags: [' x ', ''] },
  { id: 'user-123', email: 'ada@example.com', logo_url: 'https://example.com/a b?x=1+2' },
];

test('round trip of tricky values through the real propagator (unsigned and signed)', () => {
  for (const identity of TRICKY) {
    for (const options of [{}, { secret: SECRET }]) {
      const ctx = orq.contextWith(ROOT_CONTEXT, { identity, thread: { id: identity.id, tags: ['t 1', '+'] } }, options);
      const header = inject(ctx);
      assert.match(header, /^[A-Za-z0-9._~=,-]+$/, 'only unreserved characters, = and ,');
      const read = propagation.getBaggage(extract({ baggage: header }));
      const entries = orq.entriesFromBaggage(read);
      const decoded = orq.decodeIdentity(entries, { ...quiet, secrets: options.secret ? [SECRET] : [] });
      assert.equal(decoded.rejected, null);
      assert.deepEqual(decoded.identity, identity);
      const thread = orq.decodeThread(entries, { ...quiet, secrets: options.secret ? [SECRET] : [] });
      assert.deepEqual(thread.thread, { id: identity.id, tags: ['t 1', '+'] });
    }
  }
});

test('setting an identity replaces old identity entries and enduser.id, keeps other entries', () => {
  let bag = propagation.createBaggage({
    'enduser.id': { value: 'someone' },
    'orq.identity.display_name': { value: 'IkFkYSBMb3ZlbGFjZSI' },
    other: { value: 'x y' },
  });
  bag = orq.setIdentityInBaggage(bag, { id: 'user-9' });
  assert.deepEqual(orq.entriesFromBaggage(bag), Object.assign(Object.create(null), { other: 'x y', 'orq.identity.id': 'user-9' }));
});

// ----- reading rules ------------------------------------------------------------------

test('rule 1: W3C properties and surrounding whitespace are removed', () => {
  assert.deepEqual(decodeHeader('orq.identity.id=user-1;prop=1, orq.identity.tags = WyJwcm8iXQ ;p').identity, {
    id: 'user-1',
    tags: ['pro'],
  });
  // Python's propagator leaves properties in the value: the codec removes them itself
  assert.deepEqual(orq.decodeIdentity({ 'orq.identity.id': ' user-1 ;p=1' }, quiet).identity, { id: 'user-1' });
});

test('rule 2: id, id.b64, enduser.id and conflicts', () => {
  const d = (entries, options) => orq.decodeIdentity(entries, { ...quiet, ...options }).identity;
  assert.deepEqual(d({ 'orq.identity.id.b64': 'InVzZXIgMSsyJSI' }), { id: 'user 1+2%' });
  assert.deepEqual(d({ 'orq.identity.id': 'user-1', 'orq.identity.id.b64': orq.enc('user-1') }), { id: 'user-1' });
  assert.equal(d({ 'orq.identity.id': 'user-1', 'orq.identity.id.b64': orq.enc('user-2') }), null);
  assert.deepEqual(d({ 'enduser.id': 'demo-user' }), { id: 'demo-user' });
  assert.deepEqual(d({ 'enduser.id': 'demo-user', 'orq.identity.id': 'user-1' }), { id: 'user-1' });
  assert.equal(d({ 'orq.identity.display_name': 'IkFkYSBMb3ZlbGFjZSI' }), null, 'no id, no identity');
  assert.equal(d({ 'orq.identity.id.b64': 'bm90IGpzb24' }), null, 'a .b64 id that is not JSON');
  assert.equal(d({ 'orq.identity.id.b64': orq.enc(42) }), null, 'a .b64 id that is not a string');
  assert.equal(d({ 'orq.identity.id.b64': orq.enc(' padded ') }), null, 'an invalid id');
  assert.equal(d({ 'orq.identity.id.b64': orq.enc('x'.repeat(256)) }), null, 'too long');
  assert.deepEqual(d({ 'orq.identity.id.b64': orq.enc('🎉'.repeat(255)) }), { id: '🎉'.repeat(255) }, 'characters, not UTF-16 units');
  assert.equal(d({ 'orq.identity.id.b64': orq.enc('a\u0007b') }), null, 'control character');
});

test('rule 3: strict base64url, UTF-8, JSON and field checks; a bad entry is dropped on its own', () => {
  const d = (value, field = 'display_name') =>
    orq.decodeIdentity({ 'orq.identity.id': 'u', [`orq.identity.${field}`]: value }, quiet).identity;
  assert.deepEqual(d('IkFkYSBMb3ZlbGFjZSI'), { id: 'u', display_name: 'Ada Lovelace' });
  assert.deepEqual(d('IkFkYSBMb3ZlbGFjZSJ'), { id: 'u' }, 'stray bits in the last character');
  assert.deepEqual(d('IkFkYSBMb3ZlbGFjZSI='), { id: 'u' }, 'padding');
  assert.deepEqual(d('IkFkYSBMb3ZlbGFjZSIx'.slice(0, 17)), { id: 'u' }, 'length 1 modulo 4');
  assert.deepEqual(d('IkFkYSBMb3ZlbGFjZSI'.replace('F', '+')), { id: 'u' }, 'standard alphabet');
  assert.deepEqual(d(Buffer.from([0x22, 0xff, 0x22]).toString('base64url')), { id: 'u' }, 'invalid UTF-8');
  assert.deepEqual(d(orq.enc(['pro'])), { id: 'u' }, 'display_name must be a string');
  assert.deepEqual(d(Buffer.from('"\\ud800"').toString('base64url')), { id: 'u' }, 'lone surrogate');
  assert.deepEqual(d(orq.enc(Array.from({ length: 11 }, (_, i) => `t${i}`)), 'tags'), { id: 'u' }, '11 tags');
  assert.deepEqual(d(Buffer.from('{"a":NaN}').toString('base64url'), 'metadata'), { id: 'u' }, 'NaN');
  assert.deepEqual(d(Buffer.from('{"a":1e999}').toString('base64url'), 'metadata'), { id: 'u' }, 'infinity');
  assert.deepEqual(d(Buffer.from('['.repeat(10000) + ']'.repeat(10000)).toString('base64url'), 'tags'), { id: 'u' });
  assert.deepEqual(d(Buffer.from(`{"a":${'['.repeat(10000)}${']'.repeat(10000)}}`).toString('base64url'), 'metadata'), { id: 'u' });
  assert.deepEqual(d(orq.enc(Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, i]))), 'metadata'), { id: 'u' });
  assert.deepEqual(d(orq.enc([1, 2]), 'metadata'), { id: 'u' }, 'metadata must be an object');
  assert.deepEqual(d(orq.enc('not-an-email'), 'email'), { id: 'u' });
  assert.deepEqual(d(orq.enc('ftp://example.com/x.png'), 'logo_url'), { id: 'u' });
  // JSON with whitespace and escapes is valid JSON: accepted
  assert.deepEqual(d(Buffer.from(' [ "a" , "\\u00fc" ] ').toString('base64url'), 'tags'), { id: 'u', tags: ['a', 'ü'] });
});

test('rule 4: previous-format plain JSON values', () => {
  const entries = {
    'orq.identity.id': 'user-123',
    'orq.identity.display_name': '"Ada Lovelace"',
    'orq.identity.tags': '["pro","beta"]',
    'orq.identity.metadata': '{"plan":"pro"}',
  };
  assert.deepEqual(orq.decodeIdentity(entries, quiet).identity, {
    id: 'user-123',
    display_name: 'Ada Lovelace',
    tags: ['pro', 'beta'],
    metadata: { plan: 'pro' },
  });
  // as the JS propagator delivers a percent-encoded previous-format header
  assert.deepEqual(
    decodeHeader(`orq.identity.id=user-123,orq.identity.display_name=${encodeURIComponent('"Ada Lovelace"')}`).identity,
    { id: 'user-123', display_name: 'Ada Lovelace' },
  );
});

test('several baggage headers are read as if joined by commas', () => {
  const ctx = extract({ baggage: ['orq.identity.id=user-123', 'orq.identity.tags=WyJwcm8iXQ'] });
  const entries = orq.entriesFromBaggage(propagation.getBaggage(ctx));
  assert.deepEqual(orq.decodeIdentity(entries, quiet).identity, { id: 'user-123', tags: ['pro'] });
});

// ----- signatures ---------------------------------------------------------------------

test('signatures: missing, bad, tampered, expired, rotation', () => {
  const signed = headerToEntries(SECOND_HEADER);
  const d = (entries, options = {}) => orq.decodeIdentity(entries, { ...quiet, secrets: [SECRET], now: NOW, ...options });
  const without = (key) => Object.fromEntries(Object.entries(signed).filter(([k]) => k !== key));
  const withSig = (sig) => ({ ...signed, 'orq.identity.sig': sig });
  const mac = signed['orq.identity.sig'].split('.')[2];

  assert.deepEqual(d(signed), { identity: SECOND, rejected: null, warnings: [] });
  assert.equal(d(without('orq.identity.sig')).rejected, 'missing');
  assert.equal(d({ 'enduser.id': 'demo-user' }).rejected, 'missing', 'enduser.id is never signed');
  assert.equal(d({ ...signed, 'orq.identity.unknown': 'x' }).rejected, 'bad_signature', 'an added entry breaks it');
  assert.equal(d(without('orq.identity.tags')).rejected, 'bad_signature', 'a removed entry breaks it');
  assert.equal(d({ ...signed, 'orq.identity.tags': 'WyJhZG1pbiJd' }).rejected, 'bad_signature', 'a changed entry');
  assert.equal(d({ ...signed, 'orq.thread.id': 'x' }).rejected, null, 'the thread is not part of the identity\'s message');
  assert.equal(d(signed, { secrets: ['wrong'] }).rejected, 'bad_signature');
  assert.equal(d(signed, { secrets: ['new-key', SECRET] }).rejected, null, 'any listed secret verifies');
  assert.equal(d(withSig(`v2.0${EXPIRY}.${mac}`)).rejected, 'bad_signature', 'leading zero');
  assert.equal(d(withSig(`v2.${String(EXPIRY).replace('2', '²')}.${mac}`)).rejected, 'bad_signature', 'non-ASCII digit');
  assert.equal(d(withSig(`v2.${String(EXPIRY).replace('1', '١')}.${mac}`)).rejected, 'bad_signature', 'Arabic-Indic digit');
  assert.equal(d(withSig(`v2.${EXPIRY}.${mac}x`)).rejected, 'bad_signature', 'junk after the base64');
  assert.equal(d(withSig(`v2.${EXPIRY}.${mac}=`)).rejected, 'bad_signature', 'padding');
  assert.equal(d(withSig(`v2.${EXPIRY}.${mac.slice(0, 42)}d`)).rejected, 'bad_signature', 'stray bits');
  assert.equal(d(withSig(`v3.${EXPIRY}.${mac}`)).rejected, 'bad_signature', 'unknown version');
  assert.equal(d(signed, { now: EXPIRY + 30 }).rejected, null, 'within the clock skew');
  assert.equal(d(signed, { now: EXPIRY + 31 }).rejected, 'expired');
  assert.equal(d(signed, { now: EXPIRY - 630 }).rejected, null, 'ttl plus skew away');
  assert.equal(d(signed, { now: EXPIRY - 631 }).rejected, 'bad_signature', 'too far in the future: no writer signs for that long');
  // property and whitespace are removed before verification (values as read in step 1)
  assert.equal(decodeHeader(SECOND_HEADER.replace('user-123', 'user-123;p=1 '), { secrets: [SECRET], now: NOW }).rejected, null);
});

test('the default expiry is now + ttl, and the first secret signs', () => {
  const now = 1800000000;
  const entries = orq.encodeIdentity({ id: 'u' }, { secret: ['first', 'second'], now });
  assert.match(entries['orq.identity.sig'], new RegExp(`^v2\\.${now + 600}\\.`));
  assert.equal(orq.decodeIdentity(entries, { ...quiet, secrets: ['first'], now }).rejected, null);
  assert.equal(orq.decodeIdentity(entries, { ...quiet, secrets: ['second'], now }).rejected, 'bad_signature');
  const short = orq.encodeIdentity({ id: 'u' }, { secret: 'first', now, ttlSeconds: 60 });
  assert.match(short['orq.identity.sig'], new RegExp(`^v2\\.${now + 60}\\.`));
});

test('threads follow the same rules with orq.thread.*', () => {
  const entries = orq.encodeThread({ id: 'conv 42', tags: ['support'] }, { secret: SECRET, expiry: EXPIRY });
  assert.deepEqual(Object.keys(entries), ['orq.thread.id.b64', 'orq.thread.tags', 'orq.thread.sig']);
  assert.deepEqual(orq.decodeThread(entries, { ...quiet, secrets: [SECRET], now: NOW }).thread, { id: 'conv 42', tags: ['support'] });
  assert.equal(orq.decodeThread({ ...entries, 'orq.thread.x': '1' }, { ...quiet, secrets: [SECRET], now: NOW }).rejected, 'bad_signature');
  assert.equal(orq.decodeThread({ 'enduser.id': 'x' }, quiet).thread, null, 'no enduser.id fallback for threads');
  assert.throws(() => orq.encodeThread({ id: 't', display_name: 'x' }), /unknown field/);
});

// ----- writing ------------------------------------------------------------------------

test('writing validates like Identity: unknown fields and limits fail loudly', () => {
  assert.throws(() => orq.encodeIdentity({ id: 'u', nick: 'x' }), /unknown field "nick"/);
  assert.throws(() => orq.encodeIdentity({ id: 'u', tags: Array.from({ length: 11 }, String) }), /tags must have at most 10/);
  assert.throws(() => orq.encodeIdentity({ id: ' u' }), /whitespace/);
  assert.throws(() => orq.encodeIdentity({ id: '' }), /1-255/);
  assert.throws(() => orq.encodeIdentity({ display_name: 'x' }), /id is required/);
  assert.throws(() => orq.encodeIdentity({ id: 'u', metadata: { x: NaN } }), /NaN/);
  assert.throws(() => orq.encodeIdentity({ id: 'u', display_name: '\ud800' }), /lone surrogates/);
  assert.throws(() => orq.encodeIdentity({ id: 'u', logo_url: '/relative.png' }), /absolute/);
  assert.throws(() => orq.encodeIdentity({ id: 'u', email: 'nope' }), /name@domain.tld/);
});

test('an identity too large keeps its id and loses whole optional entries, largest first', () => {
  const warnings = [];
  const identity = {
    id: 'user-1',
    display_name: 'x'.repeat(3000), // entry of ~4030 bytes: fits alone
    metadata: { blob: 'y'.repeat(5000) }, // entry over 4096 bytes: dropped
    tags: ['a'],
  };
  const entries = orq.encodeIdentity(identity, { onWarning: (kind, m) => warnings.push(m), secret: SECRET, now: NOW });
  assert.deepEqual(Object.keys(entries), ['orq.identity.id', 'orq.identity.display_name', 'orq.identity.tags', 'orq.identity.sig']);
  assert.equal(warnings.length, 1);
  assert.equal(orq.decodeIdentity(entries, { ...quiet, secrets: [SECRET], now: NOW }).rejected, null, 'signed after dropping');
  // the header budget counts the other baggage entries already there
  let bag = propagation.createBaggage({ other: { value: 'z'.repeat(4000) }, more: { value: 'w'.repeat(4000) } });
  bag = orq.setIdentityInBaggage(bag, { id: 'user-1', display_name: 'x'.repeat(600), tags: ['a'] }, quiet);
  const header = inject(propagation.setBaggage(context.active(), bag));
  assert.ok(header.length <= 8192);
  assert.match(header, /orq\.identity\.id=user-1/);
  assert.match(header, /orq\.identity\.tags=/);
  assert.doesNotMatch(header, /display_name/);
});

test('nothing throws whatever the entries hold', () => {
  const junk = [null, undefined, 42, 'x', [], [[1, 2]], { 'orq.identity.id': 42 }, { 'orq.identity.id': { value: '' } }];
  for (const entries of junk) {
    assert.doesNotThrow(() => orq.decodeIdentity(entries, quiet));
    assert.doesNotThrow(() => orq.decodeIdentity(entries, { ...quiet, secrets: [SECRET] }));
  }
  for (let i = 0; i < 2000; i++) {
    const bytes = crypto.randomBytes(1 + (i % 64));
    const entries = {
      'orq.identity.id': bytes.toString('latin1'),
      'orq.identity.id.b64': bytes.toString('base64url'),
      'orq.identity.tags': bytes.toString('utf8'),
      'orq.identity.metadata': bytes.toString('base64url').slice(1),
      'orq.identity.sig': `v1.${bytes.toString('hex')}`,
    };
    orq.decodeIdentity(entries, quiet);
    orq.decodeIdentity(entries, { ...quiet, secrets: [SECRET] });
  }
});
