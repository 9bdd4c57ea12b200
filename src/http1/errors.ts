// Typed parse errors: a status to answer with (for a request) and a stable code, never a message to
// match. One frozen object per code, so reporting an error allocates nothing.

export const HTTP1_ERRORS = {
  // request line
  BAD_METHOD: 400, // not 1*[A-Z_-] (nginx's method alphabet), or longer than 32
  BAD_REQUEST_LINE: 400, // not exactly `method SP target SP version`
  BAD_TARGET: 400, // a request-target byte outside the allowed set, or a form that does not parse
  TARGET_FORM: 400, // asterisk-form or authority-form (CONNECT) when not enabled, or with the wrong method
  BAD_PATH: 400, // invalid percent-encoding or a `.`/`..` segment in the path
  BAD_VERSION: 400, // not `HTTP/` DIGIT `.` DIGIT
  VERSION_NOT_SUPPORTED: 505, // a well-formed version other than HTTP/1.0 and HTTP/1.1
  URI_TOO_LONG: 414, // request line longer than maxLineSize
  // header section
  BARE_LF: 400, // a line ended by LF without CR
  BARE_CR: 400, // a CR not followed by LF
  OBS_FOLD: 400, // a field line starting with SP/HTAB (obsolete line folding)
  SPACE_BEFORE_COLON: 400,
  BAD_FIELD_NAME: 400, // empty or not a token, or no colon
  BAD_FIELD_VALUE: 400, // NUL, CTL other than HTAB, or DEL in a value
  HEADER_LINE_TOO_LONG: 431, // a field line longer than maxLineSize
  HEAD_TOO_LARGE: 431, // whole head longer than maxHeadSize
  TOO_MANY_FIELDS: 431, // more than maxFields field lines
  MISSING_HOST: 400, // HTTP/1.1 without Host
  DUPLICATE_HOST: 400,
  BAD_HOST: 400, // Host (or absolute-form authority) is not uri-host[:port]
  // framing
  CL_TE: 400, // Content-Length and Transfer-Encoding together
  DUPLICATE_CL: 400, // two Content-Length lines, or a list `3, 3`
  BAD_CL: 400, // not 1*DIGIT, or above 2^53 - 1
  DUPLICATE_TE: 400,
  UNSUPPORTED_TE: 501, // a Transfer-Encoding other than exactly `chunked` (nginx: 501)
  TE_HTTP10: 400, // Transfer-Encoding in an HTTP/1.0 request (nginx rejects it)
  BODY_TOO_LARGE: 413, // Content-Length (or chunked data) above maxBodySize
  BAD_EXPECT: 417, // an expectation other than 100-continue
  // chunked body
  BAD_CHUNK_SIZE: 400, // not 1*HEXDIG, more than 16 digits, or above 2^53 - 1
  BAD_CHUNK_EXT: 400, // chunk-ext not `;name[=token|quoted-string]`, or longer than maxExtSize
  BAD_CHUNK_DATA: 400, // chunk data not followed by CRLF
  BAD_TRAILER: 400, // a trailer line that is not a valid field line, or a framing field in trailers
  TRAILERS_TOO_LARGE: 431, // trailer section above maxTrailerSize or maxTrailerFields
  // response (the proxy answers 502 for each of these)
  BAD_STATUS_LINE: 502, // not `HTTP/1.x SP 3DIGIT [SP reason]`, status outside 100-599
  UNEXPECTED_101: 502, // 101 to a request that did not ask for an upgrade
} as const;

export type Http1ErrorCode = keyof typeof HTTP1_ERRORS;
export type Http1ErrorStatus = (typeof HTTP1_ERRORS)[Http1ErrorCode];

export interface Http1Error {
  readonly code: Http1ErrorCode;
  /** What to answer the client with: the class's status for requests, 502 for upstream responses. */
  readonly status: Http1ErrorStatus | 502;
}

export const ERR = Object.fromEntries(
  Object.entries(HTTP1_ERRORS).map(([code, status]) => [code, Object.freeze({ code, status })]),
) as { readonly [K in Http1ErrorCode]: { readonly code: K; readonly status: (typeof HTTP1_ERRORS)[K] } };

/**
 * The same codes as seen from the upstream side: a malformed response is the backend's fault, and
 * the proxy answers 502 whatever the class (ResponseHeadParser reports these).
 */
export const UPSTREAM_ERR = Object.fromEntries(
  Object.keys(HTTP1_ERRORS).map((code) => [code, Object.freeze({ code, status: 502 })]),
) as unknown as { readonly [K in Http1ErrorCode]: { readonly code: K; readonly status: 502 } };

export function asUpstreamError(err: Http1Error): Http1Error {
  return UPSTREAM_ERR[err.code];
}
