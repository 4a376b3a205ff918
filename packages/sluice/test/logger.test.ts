// The default logger writes errors with their type, message, code, stack and cause, not `{}`.
import { describe, expect, it, vi } from 'vitest';
import { createLogger } from 'sluice';

describe('default logger', () => {
  it('serialises errors anywhere in the fields, with code, stack and cause', () => {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const cause = Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
      const err = new TypeError('claim failed', { cause });
      createLogger('info').error({ err, nested: { e: new RangeError('deep') } }, 'boom');
    } finally {
      spy.mockRestore();
    }
    interface Logged {
      type: string;
      message: string;
      stack?: string;
      cause?: unknown;
    }
    const line = JSON.parse(lines.join('')) as {
      msg: string;
      err: Logged;
      nested: { e: Logged };
    };
    expect(line.msg).toBe('boom');
    expect(line.err).toMatchObject({ type: 'TypeError', message: 'claim failed' });
    expect(line.err.stack).toContain('claim failed');
    expect(line.err.cause).toMatchObject({
      type: 'Error',
      message: 'connection refused',
      code: 'ECONNREFUSED',
    });
    expect(line.nested.e).toMatchObject({ type: 'RangeError', message: 'deep' });
  });
});
