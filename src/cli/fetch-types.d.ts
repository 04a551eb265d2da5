// The generated SDK is written against the DOM's fetch types. @types/node declares
// the same globals (fetch, Request, FormData, …) except BodyInit, which the
// server's tsconfig (no DOM lib) would otherwise lack.
type BodyInit = import('undici-types').BodyInit;
