// The nginx variables upstream-hash-by may use (the compiler checks them, the proxy expands them):
// these names, and the http_<header>, cookie_<name> and arg_<name> families.
export const HASH_VARIABLES = ['request_uri', 'uri', 'args', 'host', 'scheme', 'remote_addr', 'request_method'] as const;
export const HASH_VARIABLE_PREFIXES = ['http_', 'cookie_', 'arg_'] as const;
