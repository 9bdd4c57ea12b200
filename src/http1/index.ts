// src/http1: the HTTP/1.1 wire layer of the engine (issue 13). Pure: bytes in, offsets and verdicts out.
export { ERR, HTTP1_ERRORS, type Http1Error, type Http1ErrorCode, type Http1ErrorStatus } from './errors.js';
export { DEFAULT_HEAD_LIMITS, ERROR, F_LINE, F_NAME_END, F_VALUE, F_VALUE_END, FIELD_STRIDE, NEED_MORE, type HeadLimits } from './head-parser.js';
export {
  DEFAULT_REQUEST_OPTIONS,
  HeadFields,
  isValidHost,
  RequestHead,
  RequestHeadParser,
  type RequestFraming,
  type RequestParserOptions,
  type TargetForm,
} from './request-head.js';
export { ResponseHead, ResponseHeadParser, type ResponseContext, type ResponseFraming } from './response-head.js';
export { ChunkedTracker, DEFAULT_CHUNKED_LIMITS, LengthTracker, type ChunkedLimits } from './chunked.js';
export { errorResponse, HOP_BY_HOP, originTarget, serializeRequestHead, serializeResponseHead, type HeadPart, type ResponseSerializeOptions, type SerializeOptions } from './serialize.js';
