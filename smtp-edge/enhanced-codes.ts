import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/**
 * smtp-server picks the enhanced status code of an error reply from the reply code
 * alone (554 → 5.6.0, 550 → 5.1.1), so "554 5.7.1 relay denied" cannot be said
 * through its hook API. Our hooks put the code from core/errors.ts at the start of
 * the message ("5.7.1 Relay access denied"); this moves it into the code slot. It
 * patches two methods of smtp-server's connection (pinned version); test/smtp-*.test.ts
 * checks the exact replies, so a change upstream fails the tests, not production.
 */
let installed = false;

const ENHANCED = /^([245]\.\d{1,3}\.\d{1,3}) ([\s\S]*)$/;

export function installEnhancedCodeReplies(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as {
    send(code: number, data: unknown, context?: unknown): void;
    _getEnhancedStatusCode(code: number, context?: unknown): string;
    _useEnhancedStatusCodes(): boolean;
  };
  const originalSend = proto.send;
  const originalEnhanced = proto._getEnhancedStatusCode;
  proto._getEnhancedStatusCode = function (code, context) {
    if (typeof context === 'object' && context !== null && 'enhanced' in context) {
      return this._useEnhancedStatusCodes() ? String((context as { enhanced: string }).enhanced) : '';
    }
    return originalEnhanced.call(this, code, context);
  };
  proto.send = function (code, data, context) {
    if (context === undefined && typeof data === 'string') {
      const match = ENHANCED.exec(data);
      if (match) return originalSend.call(this, code, match[2], { enhanced: match[1] });
    }
    return originalSend.call(this, code, data, context);
  };
}
